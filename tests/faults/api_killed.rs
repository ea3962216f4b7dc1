//! The API killed (kill -9) while a client is still sending its file: the partial file
//! must not stay in `STORAGE_DIR/uploads` for ever.

use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;

use crate::{
    checks::Ledger,
    csv_files::opportunities,
    process::{eventually, wait_until},
    scenario::{Options, Scenario},
    stack::file_names,
};

const BOUND: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_killed_mid_upload_leaves_no_partial_file_once_restarted() {
    let mut s = Scenario::start(Options::default()).await;
    let (stack, key) = (&mut s.stack, &s.key);

    // A slow client: it announces 10 MB, sends 3 MB and then waits.
    let boundary = "faultsuiteboundary";
    let mut head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nOpportunity ID,Opportunity Name\r\n"
    )
    .into_bytes();
    let announced = 10 * 1024 * 1024;
    let mut client = tokio::net::TcpStream::connect(("127.0.0.1", stack.port()))
        .await
        .unwrap();
    let request = format!(
        "POST /api/v1/opportunities/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {announced}\r\n\r\n"
    );
    client.write_all(request.as_bytes()).await.unwrap();
    let mut sent = 0;
    let mut row = 0;
    while sent < 3 * 1024 * 1024 {
        head.extend_from_slice(format!("SLOW-{row},Deal {row}\r\n").as_bytes());
        row += 1;
        if head.len() >= 64 * 1024 {
            client.write_all(&head).await.unwrap();
            sent += head.len();
            head.clear();
        }
    }
    let uploads = stack.uploads();
    let part = wait_until(
        "the partial upload on disk",
        Duration::from_secs(20),
        || {
            let uploads = uploads.clone();
            async move {
                file_names(&uploads)
                    .into_iter()
                    .find(|n| n.ends_with(".part"))
                    .filter(|n| {
                        std::fs::metadata(uploads.join(n)).is_ok_and(|m| m.len() > 1024 * 1024)
                    })
            }
        },
    )
    .await;

    stack.kill_api();
    drop(client);
    // However the sweep decides that a partial file is abandoned (by age, say), this one
    // is: its writer is dead. Make it look as old as an abandoned file would be.
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(uploads.join(&part))
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();

    stack.start_api().await;
    stack.kill_worker(0);
    stack.start_worker();
    let swept = eventually(Duration::from_secs(20), || {
        let names = file_names(&uploads);
        async move { names.iter().all(|n| !n.ends_with(".part")) }
    })
    .await;
    assert!(
        swept,
        "the partial upload {part} was not swept within 20 s of the restart: {:?}",
        file_names(&uploads)
    );

    // The restarted API works.
    let mut ledger = Ledger::default();
    s.import(&mut ledger, opportunities("AFTER", 50, Some(25), None))
        .await;
    s.nothing_lost(&ledger, BOUND).await;
}
