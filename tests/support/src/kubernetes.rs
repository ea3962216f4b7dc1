//! The Kubernetes manifests of `deploy/kubernetes/`, read as the resources
//! `kustomization.yaml` lists: read offline by the deployment checks (tests/deploy) and
//! compared with a running API by the HTTP tests (tests/api/kubernetes_live.rs).

use std::{collections::BTreeMap, net::SocketAddr};

use serde_yaml_ng::Value;

use crate::{scalar, yaml};

/// Where the manifests are, relative to the repository's root.
pub const DIR: &str = "deploy/kubernetes";

/// The files `kustomization.yaml` lists, in order.
pub fn listed_files() -> Vec<String> {
    yaml(&format!("{DIR}/kustomization.yaml"))["resources"]
        .as_sequence()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// Every listed resource by file name.
pub fn resources() -> BTreeMap<String, Value> {
    listed_files()
        .into_iter()
        .map(|file| {
            let value = yaml(&format!("{DIR}/{file}"));
            (file, value)
        })
        .collect()
}

/// The one resource of `kind` whose containers run the subcommand `command` (any
/// resource of `kind` when `command` is empty).
pub fn find<'a>(resources: &'a BTreeMap<String, Value>, kind: &str, command: &str) -> &'a Value {
    let found: Vec<&Value> = resources
        .values()
        .filter(|r| r["kind"] == kind)
        .filter(|r| command.is_empty() || container(r)["args"][0] == command)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} running {command:?}");
    found[0]
}

/// The first container of a workload's pod template.
pub fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

/// The ConfigMap's data (what every pod gets through `envFrom`).
pub fn config(resources: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    find(resources, "ConfigMap", "")["data"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), scalar(v)))
        .collect()
}

/// The port of an address setting in the ConfigMap.
pub fn config_port(resources: &BTreeMap<String, Value>, name: &str) -> u16 {
    let addr: SocketAddr = config(resources)[name].parse().unwrap();
    addr.port()
}

/// The container port a probe's `port` (a name or a number) refers to.
pub fn probe_port(container: &Value, probe: &str) -> u16 {
    let port = &container[probe]["httpGet"]["port"];
    if let Some(number) = port.as_u64() {
        return number as u16;
    }
    let name = port
        .as_str()
        .unwrap_or_else(|| panic!("{probe} has a port"));
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{probe} names port {name}, which the container lacks"))
        ["containerPort"]
        .as_u64()
        .unwrap() as u16
}

/// The path of a probe's HTTP GET.
pub fn probe_path<'a>(container: &'a Value, probe: &str) -> &'a str {
    container[probe]["httpGet"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{probe} is an HTTP GET"))
}
