use crate::helpers::{Counts, assert_counts, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_go_to_the_error_csv_with_their_line_and_reason_and_good_rows_import() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // Line 3 holds a quoted line break, so the row after it starts on line 5.
    let csv = "Opportunity ID,Opportunity Name,Amount,Close Date,Opportunity Owner Email\n\
OK1,Good one,100,2017-02-15,rep@example.com\n\
OK2,\"Two\nlines\",200,2/15/2017,\n\
BAD1,Bad amount,12abc,2017-02-15,\n\
BAD2,Bad date,5,2017-02-30,\n\
BAD3,,5,,\n\
BAD4,Bad email,5,,not-an-email\n\
BAD5,Too few fields\n\
,Everything wrong,x,y,z\n\
\n\
OK3,After a blank line,\"1,000\",,\n";
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(9).imported(3).errors(6));

    let errors = app.error_csv(&key, &job).await;
    let mut reader = csv::Reader::from_reader(errors.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "Opportunity ID",
            "Opportunity Name",
            "Amount",
            "Close Date",
            "Opportunity Owner Email",
            "Line",
            "Error"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let summary: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].to_owned(), r[5].to_owned(), r[6].to_owned()))
        .collect();
    assert_eq!(summary.len(), 6, "{summary:?}");
    assert_eq!(summary[0].0, "BAD1");
    assert_eq!(summary[0].1, "5");
    assert!(summary[0].2.contains("\"12abc\""), "{}", summary[0].2);
    assert_eq!(
        (summary[1].0.as_str(), summary[1].1.as_str()),
        ("BAD2", "6")
    );
    assert!(summary[1].2.contains("2017-02-30"), "{}", summary[1].2);
    assert_eq!(
        (summary[2].0.as_str(), summary[2].1.as_str()),
        ("BAD3", "7")
    );
    assert!(
        summary[2].2.contains("Opportunity Name"),
        "{}",
        summary[2].2
    );
    assert_eq!(
        (summary[3].0.as_str(), summary[3].1.as_str()),
        ("BAD4", "8")
    );
    assert!(summary[3].2.contains("not-an-email"), "{}", summary[3].2);
    assert_eq!(
        (summary[4].0.as_str(), summary[4].1.as_str()),
        ("BAD5", "9")
    );
    assert!(summary[4].2.contains("fields"), "{}", summary[4].2);
    // One Error cell lists every problem of the row.
    assert_eq!(summary[5].1, "10");
    for part in ["Opportunity ID", "\"x\"", "\"y\"", "\"z\""] {
        assert!(summary[5].2.contains(part), "{part} in {}", summary[5].2);
    }
    // The original values are kept, so the file can be fixed and uploaded again.
    assert_eq!(&rows[0][2], "12abc");

    let list: serde_json::Value = app
        .get(&key, "/api/v1/opportunities")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["external_opp_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["OK1", "OK2", "OK3"]);
    assert_eq!(list["data"][1]["name"], "Two\nlines");
    assert_eq!(list["data"][2]["amount"], 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_id_in_one_file_is_applied_in_order() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // chunk_rows is 3 in tests: the repeats fall in the same chunk and across chunks.
    let csv = "Opportunity ID,Opportunity Name\nA,first\nA,second\nB,b\nA,third\nC,c\n";
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_counts(&job, Counts::new().imported(5));
    let list: serde_json::Value = app
        .get(&key, "/api/v1/opportunities")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    assert_eq!(list["data"][0]["name"], "third");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formula_cells_reach_the_error_csv_neutralised_and_numbers_stay_numbers() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // Every row fails (bad amount or close date), so each cell lands in the error CSV.
    // (A CR inside a cell is read as a line break, so its case is a unit test.)
    let csv = "Opportunity ID,Opportunity Name,Amount,Close Date\n\
F1,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-1200.50,not a date\n\
F2,+SUM(1),+15,not a date\n\
F3,@SUM(1),-3e5,not a date\n\
F4,\"-2+3+cmd|' /C calc'!A0\",=1+1,\n\
F5,\"\t=1\",-1+2,\n";
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_counts(&job, Counts::new().errors(5));
    let errors = app.error_csv(&key, &job).await;
    let mut reader = csv::Reader::from_reader(errors.as_bytes());
    let cells: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].to_owned(), r[2].to_owned())
        })
        .collect();
    let expected = [
        ("'=HYPERLINK(\"http://x\",\"y\")", "-1200.50"),
        ("'+SUM(1)", "+15"),
        ("'@SUM(1)", "-3e5"),
        ("'-2+3+cmd|' /C calc'!A0", "'=1+1"),
        ("'\t=1", "'-1+2"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(cells, expected);
    // The Error cell quotes the bad value but never starts with a formula character.
    for message in crate::helpers::error_messages(&errors) {
        assert!(
            !message.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{message}"
        );
    }
}
