//! deploy/kubernetes/ against a running API and worker: the probes name real routes on the
//! ports the processes listen on, and the KEDA ScaledObject scales the worker Deployment on a
//! metric the API exports. (The offline checks of the manifests are tests/deploy/kubernetes.rs.)

use std::time::{Duration, Instant};

use batch_import_test_support::{
    kubernetes::{config, config_port, container, find, probe_path, probe_port, resources},
    scalar,
};

use crate::helpers::{opportunities_csv, spawn_app_with};

/// Polls `url` until it answers 200 (panics after 30 s).
async fn until_ok(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = reqwest::get(url).await.map(|r| r.status().as_u16());
        if matches!(status, Ok(200)) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} answered {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probes_name_real_routes_on_the_ports_the_processes_listen_on() {
    let resources = resources();
    let api = container(find(&resources, "Deployment", "serve"));
    let worker = container(find(&resources, "Deployment", "work"));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            probe_port(api, probe),
            config_port(&resources, "LISTEN_ADDR"),
            "the API's {probe} port is where it listens"
        );
        assert_eq!(
            probe_port(worker, probe),
            config_port(&resources, "WORKER_HEALTH_ADDR"),
            "the worker's {probe} port is where its health listener is"
        );
    }
    // The Service forwards to the port the API listens on.
    let service = find(&resources, "Service", "");
    let target = &service["spec"]["ports"][0]["targetPort"];
    let target_port = target.as_u64().unwrap_or_else(|| {
        let name = target.as_str().unwrap();
        api["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .expect("the Service's targetPort names a container port")["containerPort"]
            .as_u64()
            .unwrap()
    });
    assert_eq!(
        target_port,
        u64::from(config_port(&resources, "LISTEN_ADDR"))
    );
    assert_eq!(
        service["spec"]["selector"],
        find(&resources, "Deployment", "serve")["spec"]["template"]["metadata"]["labels"],
        "the Service selects the API pods"
    );
    // The worker's metrics port is where METRICS_ADDR listens (the scrape annotation too).
    let worker_pod = &find(&resources, "Deployment", "work")["spec"]["template"];
    let metrics_port = config_port(&resources, "METRICS_ADDR").to_string();
    assert_eq!(
        worker_pod["metadata"]["annotations"]["prometheus.io/port"],
        metrics_port.as_str()
    );
    assert!(
        worker["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| scalar(&p["containerPort"]) == metrics_port)
    );

    // The paths answer 200 on a real API and a real worker.
    let app = spawn_app_with(|_| {}, false).await;
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = probe_path(api, probe);
        let status = reqwest::get(format!("{}{path}", app.address))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the API's {probe} {path}");
    }
    let health_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = app.settings.clone();
    settings.worker_health_addr = Some(health_addr);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(batch_import::startup::run_worker(
        settings,
        false,
        async move {
            let _ = stopped.await;
        },
    ));
    for probe in ["readinessProbe", "livenessProbe"] {
        until_ok(&format!(
            "http://{health_addr}{}",
            probe_path(worker, probe)
        ))
        .await;
    }
    let _ = stop.send(());
    worker_task
        .await
        .unwrap()
        .expect("the worker stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaled_object_scales_the_worker_deployment_on_a_metric_the_api_exports() {
    let resources = resources();
    let scaled = find(&resources, "ScaledObject", "");
    assert_eq!(scaled["apiVersion"], "keda.sh/v1alpha1");
    let spec = &scaled["spec"];
    let worker = find(&resources, "Deployment", "work");
    assert_eq!(
        spec["scaleTargetRef"]["name"], worker["metadata"]["name"],
        "it scales the worker Deployment"
    );
    let kind = &spec["scaleTargetRef"]["kind"];
    assert!(kind.is_null() || *kind == "Deployment", "{kind:?}");
    let min = spec["minReplicaCount"].as_u64().expect("minReplicaCount");
    let max = spec["maxReplicaCount"].as_u64().expect("maxReplicaCount");
    assert!(
        min >= 1,
        "workers also run the reconciler and the webhooks: keep one"
    );
    assert!(max > min, "{min}..{max}");
    assert!(spec["cooldownPeriod"].as_u64().is_some(), "cooldownPeriod");
    assert!(
        spec["pollingInterval"].as_u64().is_some(),
        "pollingInterval"
    );

    let triggers = spec["triggers"].as_sequence().unwrap();
    assert_eq!(triggers.len(), 1);
    let trigger = &triggers[0];
    assert_eq!(trigger["type"], "prometheus");
    let meta = &trigger["metadata"];
    let server = url::Url::parse(meta["serverAddress"].as_str().unwrap()).unwrap();
    assert!(["http", "https"].contains(&server.scheme()), "{server}");
    // One worker per WORKER_CONCURRENCY jobs.
    assert_eq!(
        scalar(&meta["threshold"]),
        config(&resources)["WORKER_CONCURRENCY"],
        "the threshold is the jobs one worker runs at once"
    );

    // The query reads the slots the work in hand can use, which the API exports, and that
    // figure follows the tenants' caps.
    assert_eq!(
        meta["query"].as_str().unwrap(),
        format!("max({})", batch_import::prometheus::SLOTS_WANTED)
    );
    let app = spawn_app_with(|s| s.tenant_max_running = 2, false).await;
    let (a, b) = (app.admin_key().await, app.admin_key().await);
    for (key, jobs) in [(&a, 5), (&b, 1)] {
        for i in 0..jobs {
            app.upload_job(
                key,
                "opportunities",
                "",
                opportunities_csv(&format!("S{i}-"), 1),
            )
            .await;
        }
    }
    let scrape = reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scrape.contains(&format!("\n{} 3\n", batch_import::prometheus::SLOTS_WANTED)),
        "A's five waiting jobs want 2 slots (its cap), B's one: {scrape}"
    );
}
