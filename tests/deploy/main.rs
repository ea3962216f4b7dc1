//! The deployment files checked without a server: docker-compose.yml and the Dockerfile
//! (`compose`), deploy/kubernetes/ (`kubernetes`), and that every variable they set is one
//! the service reads (`manifests`). No Postgres, Redis or SMTP needed; the checks that need
//! a running API (the Kubernetes probes and the KEDA metric) are in tests/api.

mod compose;
mod kubernetes;
mod manifests;
