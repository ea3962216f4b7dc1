//! CSV downloads of the data lists (`GET /opportunities.csv`, or the list with
//! `Accept: text/csv`): the whole filtered list, streamed.
//!
//! The file is the upload's own format, so that it uploads again unchanged: the header is
//! the import's canonical column names (those of the sample files), dates and months as
//! the importer reads them (`2027-03-31`, `2027-03`), amounts with a decimal point. Text
//! cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) get a
//! leading `'` ([`neutralise`], as in the error file), and the importer drops that one
//! quote again before those characters (`values::clean_text`). Numeric and date cells are
//! never quoted: `-5` stays a number.
//!
//! Memory stays flat whatever the list's size: rows are read in keyset batches of
//! [`BATCH_ROWS`] (each one query, an index range scan like a page of the list), each
//! batch written as CSV into one chunk of the body, and the next batch is read only when
//! the client has taken the previous chunk. An export holds a database connection only
//! while a batch is read. Concurrent exports are bounded by the API's rate limit (one
//! export is one request), not separately.

use std::future::Future;

use axum::{
    body::{Body, Bytes},
    http::header,
    response::{IntoResponse, Response},
};
use futures::{StreamExt, stream};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::{
        contacts::{Contact, ContactFilter},
        opportunities::{Opportunity, OpportunityFilter},
        page::KeysetRequest,
        sales_targets::{SalesTarget, SalesTargetFilter},
    },
    domain::JobKind,
    import::{error_file::neutralise, fields_of},
};

/// Rows read per query: large enough that the queries cost little beside the writing,
/// small enough that a batch (a few megabytes of CSV at most) is nothing to hold.
pub(crate) const BATCH_ROWS: i64 = 5_000;

/// The whole list of opportunities matching `filter`, as the upload's CSV.
pub(crate) fn opportunities(pool: PgPool, tenant_id: Uuid, filter: OpportunityFilter) -> Response {
    download(
        "opportunities.csv",
        fields_of(JobKind::Opportunities),
        move |after: Option<String>| {
            let (pool, filter) = (pool.clone(), filter.clone());
            async move {
                let page = crate::db::opportunities::list(
                    &pool,
                    tenant_id,
                    &filter,
                    batch(after.as_ref()),
                )
                .await?;
                let next = page
                    .more
                    .then(|| page.rows.last().map(|o| o.external_opp_id.clone()))
                    .flatten();
                Ok((write(page.rows.iter().map(opportunity_record)), next))
            }
        },
    )
}

/// The whole list of contacts matching `filter`, as the upload's CSV: one row per
/// opportunity a contact is linked to (the upload links one per row), one row without an
/// Opportunity ID for a contact linked to none.
pub(crate) fn contacts(pool: PgPool, tenant_id: Uuid, filter: ContactFilter) -> Response {
    download(
        "contacts.csv",
        fields_of(JobKind::Contacts),
        move |after: Option<String>| {
            let (pool, filter) = (pool.clone(), filter.clone());
            async move {
                let page =
                    crate::db::contacts::list(&pool, tenant_id, &filter, batch(after.as_ref()))
                        .await?;
                let next = page
                    .more
                    .then(|| page.rows.last().map(|c| c.email_key.clone()))
                    .flatten();
                Ok((write(page.rows.iter().flat_map(contact_records)), next))
            }
        },
    )
}

/// The whole list of sales targets matching `filter`, as the upload's CSV.
pub(crate) fn sales_targets(pool: PgPool, tenant_id: Uuid, filter: SalesTargetFilter) -> Response {
    download(
        "sales_targets.csv",
        fields_of(JobKind::SalesTargets),
        move |after: Option<(chrono::NaiveDate, String)>| {
            let (pool, filter) = (pool.clone(), filter.clone());
            async move {
                let page = crate::db::sales_targets::list(
                    &pool,
                    tenant_id,
                    &filter,
                    batch(after.as_ref()),
                )
                .await?;
                let next = page
                    .more
                    .then(|| page.rows.last().map(|t| (t.month, t.email_key.clone())))
                    .flatten();
                Ok((write(page.rows.iter().map(sales_target_record)), next))
            }
        },
    )
}

fn batch<K>(after: Option<&K>) -> KeysetRequest<'_, K> {
    KeysetRequest {
        limit: BATCH_ROWS,
        offset: 0,
        after,
        count: false,
    }
}

/// A text cell, neutralised against formulas.
fn text(value: Option<&str>) -> String {
    value
        .map(|v| neutralise(v).into_owned())
        .unwrap_or_default()
}

fn opportunity_record(o: &Opportunity) -> Vec<String> {
    vec![
        text(Some(&o.external_opp_id)),
        text(Some(&o.name)),
        o.amount.map(|a| a.to_string()).unwrap_or_default(),
        o.close_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        text(o.stage.as_deref()),
        text(o.owner_name.as_deref()),
        text(o.owner_email.as_deref()),
        text(o.external_account_id.as_deref()),
        text(o.account.as_deref()),
        text(o.website.as_deref()),
        text(o.opp_type.as_deref()),
        text(o.next_step.as_deref()),
    ]
}

fn contact_records(c: &Contact) -> Vec<Vec<String>> {
    let record = |opportunity: Option<&str>| {
        vec![
            text(opportunity),
            text(Some(&c.email)),
            text(c.fullname.as_deref()),
            text(c.first_name.as_deref()),
            text(c.last_name.as_deref()),
            text(c.title.as_deref()),
            text(c.company_name.as_deref()),
            text(c.phone.as_deref()),
            text(c.mobile_phone.as_deref()),
        ]
    };
    if c.opportunity_ids.is_empty() {
        vec![record(None)]
    } else {
        c.opportunity_ids
            .iter()
            .map(|id| record(Some(id)))
            .collect()
    }
}

fn sales_target_record(t: &SalesTarget) -> Vec<String> {
    vec![
        text(Some(&t.rep_email)),
        t.month.format("%Y-%m").to_string(),
        t.amount.to_string(),
    ]
}

/// CSV lines of `records` (RFC 4180 quoting, CRLF-free `\n` line ends).
fn write(records: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        // Writing into a Vec cannot fail.
        let _ = writer.write_record(&record);
    }
    writer.into_inner().unwrap_or_default()
}

/// The streamed download `file_name`: a UTF-8 BOM (so that spreadsheets read the text
/// as UTF-8; the importer skips it) and the header of `fields`, then the batches `read`
/// gives, each after the key of the last row of the one before, until it gives no key.
fn download<K, F, Fut>(
    file_name: &'static str,
    fields: &'static [crate::import::header::FieldSpec],
    read: F,
) -> Response
where
    K: Send + 'static,
    F: FnMut(Option<K>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<u8>, Option<K>), sqlx::Error>> + Send + 'static,
{
    let mut head = "\u{feff}".as_bytes().to_vec();
    head.extend(write(std::iter::once(
        fields.iter().map(|f| f.name.to_owned()).collect(),
    )));
    // `Some(after)` while batches remain; the first batch starts after no key.
    let batches = stream::try_unfold((read, Some(None)), |(mut read, state)| async move {
        let Some(after) = state else {
            return Ok(None);
        };
        let (bytes, next) = read(after).await.inspect_err(|error| {
            tracing::error!(%error, "a CSV export failed midway; the download is cut short");
        })?;
        Ok::<_, sqlx::Error>(Some((Bytes::from(bytes), (read, next.map(Some)))))
    });
    let body = stream::once(async move { Ok(Bytes::from(head)) }).chain(batches);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
