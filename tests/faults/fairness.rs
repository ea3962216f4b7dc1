//! One tenant's backlog never starves another (issue 19), with the real `serve` and two
//! `work` processes of one slot each (`WORKER_CONCURRENCY=1`): the fair pick, the same
//! scenario in the old first-in-first-out order (which must fail the fair assertion),
//! three tenants' backlogs, the per-tenant limits (`TENANT_MAX_RUNNING`,
//! `TENANT_MAX_QUEUED`) and a worker killed while it holds a tenant's only slot.
//!
//! Imports are held mid-file by a locked key (`csv_files::hold`) where the order of
//! events matters, so no assertion depends on how fast this machine imports. Start
//! times are read from the jobs table: a claim stamps `started_at` after it took the
//! pick lock, so the stamps are in the order the picks were made, and a run whose
//! `[started_at, finished_at]` overlaps another's was counted as running by that pick.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    checks::Ledger,
    csv_files::{self, OppFile, opportunities},
    process::wait_until,
    scenario::{Options, Scenario},
    stack::{Stack, file_names},
};

/// Every job is terminal within this once nothing holds it.
const BOUND: Duration = Duration::from_secs(40);

/// Two workers of one slot each, no cap: only the pick order decides.
const FAIR: &[(&str, &str)] = &[
    ("WORKER_CONCURRENCY", "1"),
    ("TENANT_MAX_RUNNING", "0"),
    ("JOB_PICK_ORDER", "fair"),
];
const FIFO: &[(&str, &str)] = &[
    ("WORKER_CONCURRENCY", "1"),
    ("TENANT_MAX_RUNNING", "0"),
    ("JOB_PICK_ORDER", "fifo"),
];

/// One run of a job as the jobs table records it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Run {
    id: Uuid,
    tenant_id: Uuid,
    state: String,
    attempts: i32,
    lost_runs: i32,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl Run {
    fn started(&self) -> DateTime<Utc> {
        self.started_at.expect("the job started")
    }

    fn finished(&self) -> DateTime<Utc> {
        self.finished_at.expect("the job finished")
    }

    /// Whether its run and `other`'s were both running at some moment.
    fn overlaps(&self, other: &Run) -> bool {
        self.started() < other.finished() && other.started() < self.finished()
    }
}

/// The jobs `ids`, in the order given.
async fn runs(db: &PgPool, ids: &[Uuid]) -> Vec<Run> {
    let rows: Vec<Run> = sqlx::query_as(
        "SELECT id, tenant_id, state, attempts, lost_runs, created_at, started_at, finished_at
           FROM import_jobs WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .unwrap();
    ids.iter()
        .map(|id| {
            rows.iter()
                .find(|r| r.id == *id)
                .expect("a job row")
                .clone()
        })
        .collect()
}

/// Every job in `runs` completed after exactly one run.
fn ran_once(runs: &[Run]) {
    for run in runs {
        assert_eq!(
            (run.state.as_str(), run.attempts, run.lost_runs),
            ("completed", 1, 0),
            "job {} (state, runs, lost runs)",
            run.id
        );
    }
}

/// Uploads `file` as opportunities for `key` (asserting `202`) and records it.
async fn upload(stack: &Stack, key: &str, ledger: &mut Ledger, file: OppFile) -> Uuid {
    let job = stack
        .upload_job(key, "opportunities", "", file.csv.clone())
        .await;
    ledger.add(job, file);
    job
}

/// Uploads `csv` and returns the status, the `Retry-After` header and the body.
async fn upload_answer(stack: &Stack, key: &str, csv: String) -> (u16, Option<String>, Value) {
    let part = reqwest::multipart::Part::bytes(csv.into_bytes())
        .file_name("upload.csv")
        .mime_str("text/csv")
        .unwrap();
    let response = stack
        .http
        .post(format!("{}/api/v1/opportunities/upload", stack.address))
        .header("Authorization", key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// What a sampler saw of the running jobs while it ran.
#[derive(Debug, Default)]
struct Seen {
    /// The most jobs of each tenant seen `running` at once (a dead worker's run counts
    /// until it is taken over).
    most_running: BTreeMap<Uuid, i64>,
    samples: usize,
}

/// Reads the running jobs per tenant every 20 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Seen>,
}

impl Sampler {
    fn start(db: &PgPool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (db, flag) = (db.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            while !flag.load(Ordering::SeqCst) {
                let counts: Vec<(Uuid, i64)> = sqlx::query_as(
                    "SELECT tenant_id, count(*) FROM import_jobs WHERE state = 'running'
                      GROUP BY tenant_id",
                )
                .fetch_all(&db)
                .await
                .unwrap_or_default();
                for (tenant, n) in counts {
                    let most = seen.most_running.entry(tenant).or_default();
                    *most = (*most).max(n);
                }
                seen.samples += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        });
        Self { stop, task }
    }

    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        let seen = self.task.await.unwrap();
        assert!(
            seen.samples > 10,
            "the sampler ran ({} samples)",
            seen.samples
        );
        seen
    }
}

/// The scenario's tenant (A) queues `backlog` imports, each held mid-file by one locked
/// key (so A's first two hold both slots); then tenant B uploads one 10-row file and the
/// key is released. Returns A's jobs and B's, each completed after one run.
async fn backlog_then_one_small_upload(
    extra_env: &'static [(&'static str, &'static str)],
) -> (Vec<Run>, Run) {
    let mut s = Scenario::start(Options {
        workers: 2,
        extra_env,
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();
    s.seed(&mut ledger, csv_files::held(&["HOLD-A"]), BOUND)
        .await;
    let hold = csv_files::hold(&s.stack.db, &["HOLD-A"]).await;
    let mut a = Vec::new();
    for n in 0..6 {
        let file = opportunities(&format!("A{n}"), 300, None, Some("HOLD-A"));
        a.push(upload(&s.stack, &s.key, &mut ledger, file).await);
    }
    // Both slots hold one of A's jobs, the other four wait.
    s.stack.wait_midway(&a[..2]).await;
    let key_b = s.stack.admin_key();
    let b = upload(
        &s.stack,
        &key_b,
        &mut ledger,
        opportunities("B", 10, None, None),
    )
    .await;
    hold.commit().await.unwrap();

    s.nothing_lost(&ledger, BOUND).await;
    let a = runs(&s.stack.db, &a).await;
    let b = runs(&s.stack.db, &[b]).await.remove(0);
    ran_once(&a);
    ran_once(std::slice::from_ref(&b));
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_a_small_upload_starts_before_the_third_job_of_another_tenants_backlog() {
    let (a, b) = backlog_then_one_small_upload(FAIR).await;
    // The first slot freed by A goes to B, the second to A's third job.
    assert!(
        b.started() < a[2].started(),
        "B started {} after A's third job ({}); A's starts: {:?}",
        b.started(),
        a[2].started(),
        a.iter().map(Run::started).collect::<Vec<_>>()
    );
    // B's upload came after A's third job was queued: the pick, not the age, put it first.
    assert!(a[2].created_at < b.created_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_the_same_small_upload_waits_behind_the_whole_backlog() {
    let (a, b) = backlog_then_one_small_upload(FIFO).await;
    // The old order: B's job is the newest, so it starts after all of A's.
    let last_a = a.iter().map(Run::started).max().unwrap();
    assert!(
        b.started() > last_a,
        "B started {} before A's last job ({last_a})",
        b.started()
    );
}

/// A job's end is stamped when its transaction begins and seen by picks once it
/// commits, a few milliseconds later: within this of its stamp a pick may have counted
/// it as running or not.
const END_SLACK: chrono::TimeDelta = chrono::TimeDelta::milliseconds(100);

/// What the fair pick compares of a tenant with a job waiting: (jobs running, its last
/// start, its oldest waiting job).
type Standing = (usize, Option<DateTime<Utc>>, DateTime<Utc>);

/// The fair pick as the jobs table recorded it: at each start, no tenant with a job
/// still waiting had fewer jobs running, or as many and was served longer ago (never
/// first), or as many, served as recently, and an older job waiting. Where an end was
/// too close to a start to say whether the pick saw it, the pick is given the benefit.
fn assert_each_start_is_the_fair_pick(all: &[Run]) {
    let mut by_start: Vec<&Run> = all.iter().collect();
    by_start.sort_by_key(|r| r.started());
    // Per tenant with a job still waiting at `at`: (running, last start, oldest waiting),
    // counting runs that ended within the slack as running (`slack`) or not.
    let waiting_at = |at: DateTime<Utc>, slack: chrono::TimeDelta| {
        let mut waiting: BTreeMap<Uuid, Standing> = BTreeMap::new();
        for r in all.iter().filter(|r| r.started() >= at) {
            let running = all
                .iter()
                .filter(|o| {
                    o.tenant_id == r.tenant_id && o.started() < at && at < o.finished() + slack
                })
                .count();
            let last = all
                .iter()
                .filter(|o| o.tenant_id == r.tenant_id && o.started() < at)
                .map(Run::started)
                .max();
            let entry = waiting
                .entry(r.tenant_id)
                .or_insert((running, last, r.created_at));
            entry.2 = entry.2.min(r.created_at);
        }
        waiting
    };
    for (n, picked) in by_start.iter().enumerate() {
        let at = picked.started();
        let fewest = waiting_at(at, chrono::TimeDelta::zero());
        let most = waiting_at(at, END_SLACK);
        // `None` (never served) sorts first, as NULLS FIRST does.
        for (tenant, other) in &most {
            assert!(
                fewest[&picked.tenant_id] <= *other,
                "start {n} (job {}) was not the fair pick: tenant {tenant} waited with \
                 {other:?}; (running, last start, oldest waiting) per waiting tenant: \
                 {fewest:?}",
                picked.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_three_tenants_backlogs_interleave_and_every_job_runs_once() {
    let mut s = Scenario::start(Options {
        workers: 0,
        extra_env: FAIR,
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();
    let keys = [s.key.clone(), s.stack.admin_key(), s.stack.admin_key()];
    // Everything is queued before a worker starts: A 6 jobs, then B 3, then C 1.
    let mut jobs = Vec::new();
    for (tenant, (key, count)) in keys.iter().zip([6, 3, 1]).enumerate() {
        for n in 0..count {
            let file = opportunities(&format!("T{tenant}-{n}"), 300, Some(40), None);
            jobs.push((tenant, upload(&s.stack, key, &mut ledger, file).await));
        }
    }
    s.stack.start_worker();
    s.stack.start_worker();
    s.nothing_lost(&ledger, BOUND).await;

    let ids: Vec<Uuid> = jobs.iter().map(|(_, id)| *id).collect();
    let all = runs(&s.stack.db, &ids).await;
    ran_once(&all);
    assert_each_start_is_the_fair_pick(&all);
    // What that means here: the first three starts are one job of each tenant, in the
    // order they uploaded (first in first out would start C's job tenth).
    let tenant_of = |r: &Run| jobs.iter().find(|(_, id)| *id == r.id).unwrap().0;
    let mut by_start: Vec<&Run> = all.iter().collect();
    by_start.sort_by_key(|r| r.started());
    let order: Vec<usize> = by_start.iter().map(|r| tenant_of(r)).collect();
    assert_eq!(order[..3], [0, 1, 2], "start order by tenant: {order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_limits_hold_one_run_per_tenant_and_refuse_a_fourth_queued_upload() {
    let mut s = Scenario::start(Options {
        workers: 2,
        extra_env: &[
            ("WORKER_CONCURRENCY", "1"),
            ("TENANT_MAX_RUNNING", "1"),
            ("TENANT_MAX_QUEUED", "3"),
            ("JOB_PICK_ORDER", "fair"),
        ],
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();
    s.seed(&mut ledger, csv_files::held(&["HOLD-A"]), BOUND)
        .await;
    let sampler = Sampler::start(&s.stack.db);
    let hold = csv_files::hold(&s.stack.db, &["HOLD-A"]).await;
    let held = |n: usize| opportunities(&format!("A{n}"), 300, Some(40), Some("HOLD-A"));

    // A's first job holds A's only slot; its next three wait (the other slot stays free).
    let a1 = upload(&s.stack, &s.key, &mut ledger, held(1)).await;
    s.stack.wait_midway(&[a1]).await;
    let mut a = vec![a1];
    for n in 2..=4 {
        a.push(upload(&s.stack, &s.key, &mut ledger, held(n)).await);
    }

    // A fourth queued job is one too many: 429, JSend fail, Retry-After, nothing kept.
    let jobs_before: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&s.stack.db)
        .await
        .unwrap();
    let (status, retry_after, body) = upload_answer(
        &s.stack,
        &s.key,
        opportunities("A-REFUSED", 300, None, None).csv,
    )
    .await;
    assert_eq!(status, 429, "the fourth queued upload: {body}");
    assert_eq!(body["status"], "fail", "{body}");
    let message = body["data"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("waiting"), "the message says why: {body}");
    let retry_after: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(
        (1..=300).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let jobs_after: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&s.stack.db)
        .await
        .unwrap();
    assert_eq!(jobs_after, jobs_before, "the refused upload made no job");
    let all_jobs: Vec<String> = sqlx::query_scalar::<_, Uuid>("SELECT id FROM import_jobs")
        .fetch_all(&s.stack.db)
        .await
        .unwrap()
        .iter()
        .map(Uuid::to_string)
        .collect();
    let kept = file_names(&s.stack.uploads());
    assert!(
        kept.iter()
            .all(|name| all_jobs.iter().any(|id| name.starts_with(id.as_str()))),
        "every kept upload is a job's: {kept:?} (jobs {all_jobs:?})"
    );

    // B is not held back by A's limits: both its jobs run in the free slot and complete
    // while A's first job still holds A's slot and A's others still wait.
    let key_b = s.stack.admin_key();
    let b: Vec<Uuid> = vec![
        upload(
            &s.stack,
            &key_b,
            &mut ledger,
            opportunities("B1", 300, None, None),
        )
        .await,
        upload(
            &s.stack,
            &key_b,
            &mut ledger,
            opportunities("B2", 300, None, None),
        )
        .await,
    ];
    let db = s.stack.db.clone();
    wait_until("B's jobs to complete", BOUND, || {
        let (db, b) = (db.clone(), b.clone());
        async move {
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM import_jobs WHERE id = ANY($1) AND state = 'completed'",
            )
            .bind(&b)
            .fetch_one(&db)
            .await
            .ok()?;
            (done == 2).then_some(())
        }
    })
    .await;
    let states: Vec<String> = runs(&db, &a).await.into_iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        ["running", "queued", "queued", "queued"],
        "A's jobs while its first holds its only slot"
    );

    // Once A's queue drains below its limit, A may upload again.
    hold.commit().await.unwrap();
    let tenant_a = runs(&db, &[a1]).await.remove(0).tenant_id;
    wait_until("A's queue to drain below 3", BOUND, || {
        let db = db.clone();
        async move {
            let queued: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM import_jobs WHERE tenant_id = $1 AND state = 'queued'",
            )
            .bind(tenant_a)
            .fetch_one(&db)
            .await
            .ok()?;
            (queued < 3).then_some(())
        }
    })
    .await;
    a.push(upload(&s.stack, &s.key, &mut ledger, held(5)).await);

    s.nothing_lost(&ledger, BOUND).await;
    let seen = sampler.finish().await;
    let a_runs = runs(&db, &a).await;
    let b_runs = runs(&db, &b).await;
    ran_once(&a_runs);
    ran_once(&b_runs);
    assert_eq!(
        seen.most_running.get(&tenant_a),
        Some(&1),
        "most of A's jobs seen running at once: {seen:?}"
    );
    for (i, x) in a_runs.iter().enumerate() {
        for y in &a_runs[i + 1..] {
            assert!(!x.overlaps(y), "A's jobs {} and {} ran at once", x.id, y.id);
        }
    }
    // B's jobs ran in the other slot while A's first held A's.
    for run in &b_runs {
        assert!(
            run.overlaps(&a_runs[0]),
            "B's job {} ran beside A's first",
            run.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_a_worker_killed_holding_a_tenants_only_slot_frees_it_when_the_lease_lapses() {
    let mut s = Scenario::start(Options {
        workers: 2,
        extra_env: &[
            ("WORKER_CONCURRENCY", "1"),
            ("TENANT_MAX_RUNNING", "1"),
            ("JOB_PICK_ORDER", "fair"),
            ("ORPHAN_TIMEOUT_SECS", "4"),
        ],
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();
    s.seed(&mut ledger, csv_files::held(&["HOLD-A"]), BOUND)
        .await;
    let sampler = Sampler::start(&s.stack.db);
    let hold = csv_files::hold(&s.stack.db, &["HOLD-A"]).await;
    let held = |n: usize| opportunities(&format!("A{n}"), 300, Some(40), Some("HOLD-A"));
    let a1 = upload(&s.stack, &s.key, &mut ledger, held(1)).await;
    s.stack.wait_midway(&[a1]).await;
    let a2 = upload(&s.stack, &s.key, &mut ledger, held(2)).await;
    let a3 = upload(&s.stack, &s.key, &mut ledger, held(3)).await;

    // kill -9 the worker that holds A's only slot, and start a fresh one.
    let owner: String = sqlx::query_scalar("SELECT lease_owner FROM import_jobs WHERE id = $1")
        .bind(a1)
        .fetch_one(&s.stack.db)
        .await
        .unwrap();
    let pid: u32 = owner
        .strip_prefix("pid")
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("a lease owner naming its worker's pid: {owner}"));
    let (live, _) = s.stack.processes();
    let index = live
        .iter()
        .filter(|(name, _)| name.starts_with("work"))
        .position(|(_, p)| *p == pid)
        .expect("the holder is one of the workers");
    assert_eq!(s.stack.kill_worker(index), pid);
    let killed_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&s.stack.db)
        .await
        .unwrap();
    s.stack.start_worker();
    hold.commit().await.unwrap();

    s.nothing_lost(&ledger, BOUND).await;
    let seen = sampler.finish().await;
    let a = runs(&s.stack.db, &[a1, a2, a3]).await;
    // The killed run was taken over once its lease lapsed, and run again once.
    assert_eq!(
        (a[0].state.as_str(), a[0].attempts, a[0].lost_runs),
        ("completed", 2, 1),
        "the killed job (state, runs, lost runs)"
    );
    assert!(
        a[0].started() > killed_at,
        "its second run began after the kill"
    );
    ran_once(&a[1..]);
    assert_eq!(
        seen.most_running.get(&a[0].tenant_id),
        Some(&1),
        "most of A's jobs seen running at once (the dead run counts): {seen:?}"
    );
    // A's next jobs waited for the killed one's second run to end.
    assert!(a[0].finished() <= a[1].started() && a[1].finished() <= a[2].started());
}
