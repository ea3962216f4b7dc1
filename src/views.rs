//! The JSON shapes of the public API, shared by the HTTP API and the webhook deliveries
//! (which post the job as `GET /jobs/{id}` shows it): a module of its own so that the
//! workers need not depend on the API.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    db::{
        corrections,
        job_errors::{HeaderValue, StoredError},
        jobs::JobRecord,
        opportunities::Opportunity,
        reverts, schedule,
    },
    domain::{ErrorSummaryEntry, JobKind, JobState, Problem},
    jobs::corrections::MAX_CORRECTIONS_PER_JOB,
};

/// A job as `GET /jobs/{id}` shows it; also the upload's answer, the data of the job
/// events and the body of the webhook call.
// The CLI reads jobs into this same type (`client::Job`), so the two cannot drift.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct JobView {
    pub id: Uuid,
    /// Where to poll this job.
    pub url: String,
    pub kind: JobKind,
    pub state: JobState,
    /// While the job is queued: how many queued jobs, of all tenants, the workers are
    /// likely to start before it (an estimate in turns: every tenant's oldest queued job
    /// first, then every tenant's second, and so on); a count only, never whose they are.
    /// `null` for a job that is not queued. `GET /jobs`, `GET /jobs/{id}` and the upload's
    /// answer fill it in; the job events (`GET /jobs/{id}/events`) and the webhook calls
    /// leave it `null`.
    #[schema(minimum = 0)]
    pub jobs_ahead: Option<i64>,
    /// The name given at upload, if any.
    pub name: Option<String>,
    pub file_name: String,
    /// The uploaded file's size in bytes.
    pub file_size: i64,
    /// The workbook sheet asked for at upload (a name or a 1-based index), if any.
    pub sheet: Option<String>,
    pub rows_processed: i64,
    /// Bytes of the file behind `rows_processed` (equal to `file_size` once completed).
    pub bytes_processed: i64,
    /// `bytes_processed` as a whole percentage of `file_size` (0–100): a true measure of
    /// progress while the file's row count is not known yet.
    pub progress_percent: u8,
    pub total_original_rows: Option<i64>,
    pub total_imported_rows: Option<i64>,
    pub total_error_rows: Option<i64>,
    /// Imported rows that created a record. `created_rows + updated_rows +
    /// unchanged_rows = total_imported_rows`.
    pub created_rows: Option<i64>,
    /// Imported rows that changed a stored record.
    pub updated_rows: Option<i64>,
    /// Imported rows whose values were all stored already: not rewritten.
    pub unchanged_rows: Option<i64>,
    /// True for a check of the file (`validate_only`) that stored nothing; its counts say
    /// what the import would do.
    pub dry_run: bool,
    /// URL of the error CSV, `""` when no row failed.
    pub error_file: String,
    /// URL of the rows a cancelled or failed job never got to (header + rows, as
    /// uploaded), `""` for other jobs.
    pub unprocessed_file: String,
    /// Why the job failed, when it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub send_error_email: bool,
    pub email_sent_at: Option<DateTime<Utc>>,
    pub email_error: Option<String>,
    /// Failed rows per problem code and column, most frequent first (a row with problems
    /// of several codes or columns counts in each). Grows while the job runs.
    pub error_summary: Vec<ErrorSummaryEntry>,
    /// For a correction (`POST /jobs/{id}/corrections`): the job whose failed rows it
    /// corrects; `null` for an upload.
    pub parent_job_id: Option<Uuid>,
    /// The corrections made of this job's failed rows, oldest first (at most
    /// `MAX_CORRECTIONS_PER_JOB`, 100). `GET /jobs`, `GET /jobs/{id}` and the answers of
    /// uploads and corrections fill it in; the job events and the webhook calls leave it
    /// `[]` (a job can only be corrected once it has ended).
    pub corrections: Vec<CorrectionLink>,
    /// For a revert job (`POST /jobs/{id}/revert`): the job it undoes; `null` otherwise.
    pub reverts_job_id: Option<Uuid>,
    /// For a job that was reverted: the revert job (not a dry run) that undid it, or is
    /// undoing it (the latest, when one failed or was cancelled and another was asked
    /// for); `null` otherwise. Filled in like `corrections`.
    pub reverted_by_job_id: Option<Uuid>,
    /// A revert job's rows deleted because the undone job created them; `null` for other
    /// jobs and until the revert job ends.
    pub deleted_rows: Option<i64>,
    /// A revert job's rows set back to their values before the undone job.
    pub restored_rows: Option<i64>,
    /// A revert job's rows left alone because another job changed them since (its failed
    /// rows, code `changed_since`; equal to `total_error_rows`).
    pub conflict_rows: Option<i64>,
}

/// A correction of a job, as its parent lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct CorrectionLink {
    /// The correction's job id.
    pub id: Uuid,
    /// Where to poll it.
    pub url: String,
}

impl JobView {
    /// Builds the view, without `jobs_ahead`; `public_base` is the API's public URL
    /// without a trailing slash.
    pub(crate) fn new(job: JobRecord, public_base: &str) -> Self {
        let has_error_file = job.state().is_terminal() && job.total_error_rows.unwrap_or(0) > 0;
        Self {
            id: job.id,
            url: job_url(public_base, job.id),
            kind: job.kind(),
            state: job.state(),
            jobs_ahead: None,
            error_file: if has_error_file {
                error_file_url(public_base, job.id)
            } else {
                String::new()
            },
            unprocessed_file: if crate::jobs::unprocessed::offered(&job) {
                unprocessed_file_url(public_base, job.id)
            } else {
                String::new()
            },
            progress_percent: progress_percent(job.bytes_processed, job.file_size),
            name: job.name,
            file_name: job.file_name,
            file_size: job.file_size,
            sheet: job.sheet,
            rows_processed: job.rows_processed,
            bytes_processed: job.bytes_processed,
            total_original_rows: job.total_original_rows,
            total_imported_rows: job.total_imported_rows,
            total_error_rows: job.total_error_rows,
            created_rows: job.created_rows,
            updated_rows: job.updated_rows,
            unchanged_rows: job.unchanged_rows,
            dry_run: job.dry_run,
            error: job.error,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            send_error_email: job.send_error_email,
            email_sent_at: job.email_sent_at,
            email_error: job.email_error,
            error_summary: job.error_summary.0,
            parent_job_id: job.parent_job_id,
            corrections: Vec::new(),
            reverts_job_id: job.reverts_job_id,
            reverted_by_job_id: None,
            deleted_rows: job.deleted_rows,
            restored_rows: job.restored_rows,
            conflict_rows: job.conflict_rows,
        }
    }

    /// The views of `jobs`, in their order, with `jobs_ahead` filled in for the queued
    /// ones (one query for them all, none when no job is queued) and `corrections` for
    /// every one (one query for them all).
    pub(crate) async fn with_jobs_ahead(
        pool: &PgPool,
        jobs: Vec<JobRecord>,
        public_base: &str,
    ) -> Result<Vec<Self>, sqlx::Error> {
        let queued: Vec<Uuid> = jobs
            .iter()
            .filter(|job| job.state() == JobState::Queued)
            .map(|job| job.id)
            .collect();
        let ahead: HashMap<Uuid, i64> = schedule::jobs_ahead(pool, &queued)
            .await?
            .into_iter()
            .collect();
        let ids: Vec<Uuid> = jobs.iter().map(|job| job.id).collect();
        let mut corrections: HashMap<Uuid, Vec<CorrectionLink>> = HashMap::new();
        for (parent, id) in corrections::of_jobs(pool, &ids, MAX_CORRECTIONS_PER_JOB).await? {
            let url = job_url(public_base, id);
            corrections
                .entry(parent)
                .or_default()
                .push(CorrectionLink { id, url });
        }
        let reverted: HashMap<Uuid, Uuid> =
            reverts::of_jobs(pool, &ids).await?.into_iter().collect();
        Ok(jobs
            .into_iter()
            .map(|job| {
                let jobs_ahead = ahead.get(&job.id).copied();
                let corrections = corrections.remove(&job.id).unwrap_or_default();
                let reverted_by_job_id = reverted.get(&job.id).copied();
                Self {
                    jobs_ahead,
                    corrections,
                    reverted_by_job_id,
                    ..Self::new(job, public_base)
                }
            })
            .collect())
    }

    /// The view of one job with `jobs_ahead` filled in when it is queued.
    pub(crate) async fn of_one(
        pool: &PgPool,
        job: JobRecord,
        public_base: &str,
    ) -> Result<Self, sqlx::Error> {
        let mut views = Self::with_jobs_ahead(pool, vec![job], public_base).await?;
        Ok(views.pop().expect("one view per job"))
    }
}

pub use crate::domain::{error_file_url, job_url, unprocessed_file_url};

/// `done` of `total` in whole percent, rounded down so that 100 means finished.
fn progress_percent(done: i64, total: i64) -> u8 {
    if total <= 0 {
        return 0;
    }
    (done.clamp(0, total) as i128 * 100 / total as i128) as u8
}

/// `close_date` in the documented (PHP DateTime) shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CloseDateView {
    pub date: String,
    pub timezone_type: u8,
    #[schema(value_type = String, example = "UTC")]
    pub timezone: &'static str,
}

/// An opportunity in the documented shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpportunityView {
    pub id: Uuid,
    /// `"1"` or `"0"`, as the original API sent it.
    #[schema(value_type = String, pattern = "^[01]$", example = "1")]
    pub active: &'static str,
    pub external_opp_id: String,
    pub name: String,
    pub external_account_id: Option<String>,
    pub account: Option<String>,
    pub amount: Option<f64>,
    pub close_date: Option<CloseDateView>,
    pub stage: Option<String>,
    pub forecast: Option<String>,
    pub stage_system: Option<String>,
    pub forecast_system: Option<String>,
    pub activity_index: Option<i32>,
    pub relationship_index: Option<i32>,
    #[serde(rename = "type")]
    pub opp_type: Option<String>,
    pub website: String,
    pub owner: Option<String>,
    pub owner_email: Option<String>,
    pub next_step: Option<String>,
}

impl From<Opportunity> for OpportunityView {
    fn from(o: Opportunity) -> Self {
        Self {
            id: o.id,
            active: if o.active { "1" } else { "0" },
            external_opp_id: o.external_opp_id,
            name: o.name,
            external_account_id: o.external_account_id,
            account: o.account,
            amount: o.amount.and_then(|a| a.to_f64()),
            close_date: o.close_date.map(|d| CloseDateView {
                date: format!("{} 00:00:00.000000", d.format("%Y-%m-%d")),
                timezone_type: 3,
                timezone: "UTC",
            }),
            stage_system: o.stage.clone(),
            stage: o.stage,
            forecast_system: o.forecast.clone(),
            forecast: o.forecast,
            activity_index: o.activity_index,
            relationship_index: o.relationship_index,
            opp_type: o.opp_type,
            website: o.website.unwrap_or_default(),
            owner: o.owner_name,
            owner_email: o.owner_email,
            next_step: o.next_step,
        }
    }
}

/// A contact.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ContactView {
    pub id: Uuid,
    pub email: String,
    pub fullname: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    /// The external Opportunity IDs the contact belongs to.
    pub opportunity_ids: Vec<String>,
}

impl From<crate::db::contacts::Contact> for ContactView {
    fn from(c: crate::db::contacts::Contact) -> Self {
        Self {
            id: c.id,
            email: c.email,
            fullname: c.fullname,
            first_name: c.first_name,
            last_name: c.last_name,
            title: c.title,
            company_name: c.company_name,
            phone: c.phone,
            mobile_phone: c.mobile_phone,
            opportunity_ids: c.opportunity_ids,
        }
    }
}

/// A sales target.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SalesTargetView {
    pub id: Uuid,
    pub email: String,
    /// `YYYY-MM`.
    pub month: String,
    pub amount: Option<f64>,
}

impl From<crate::db::sales_targets::SalesTarget> for SalesTargetView {
    fn from(t: crate::db::sales_targets::SalesTarget) -> Self {
        Self {
            id: t.id,
            email: t.rep_email,
            month: t.month.format("%Y-%m").to_string(),
            amount: t.amount.to_f64(),
        }
    }
}

/// A failed row of a job as `GET /jobs/{id}/errors` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobErrorView {
    /// The physical line where the row starts in the upload (the header is line 1), as
    /// the error CSV's `Line` column says.
    pub line: i64,
    /// The row's cells as uploaded under their header names, in the header's order;
    /// `null` for a column the row has no cell for.
    pub values: RowValues,
    /// Cells beyond the header, up to the last non-empty one (`[]` when none).
    pub extra_values: Vec<String>,
    /// Every problem of the row.
    pub problems: Vec<Problem>,
}

impl From<StoredError> for JobErrorView {
    fn from(e: StoredError) -> Self {
        Self {
            line: e.line,
            values: RowValues(e.row_values.0),
            extra_values: e.extra_values.0,
            problems: e.problems.0,
        }
    }
}

/// A JSON object whose keys keep the header's order.
#[derive(Debug)]
pub(crate) struct RowValues(pub Vec<HeaderValue>);

impl utoipa::PartialSchema for RowValues {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A row's cells under their header names, in the header's order; `null` for a \
                 column the row has no cell for",
            ))
            .additional_properties(Some(
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
            ))
            .into()
    }
}

impl ToSchema for RowValues {}

impl Serialize for RowValues {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for HeaderValue(name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The event a job's end sends (`Batch-Import-Event`, and each endpoint's `events`).
pub(crate) const JOB_FINISHED: &str = "job.finished";

/// A webhook endpoint; never with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    pub id: Uuid,
    /// Where to read (or delete) this endpoint.
    pub self_url: String,
    /// Where the calls go.
    pub url: String,
    pub description: Option<String>,
    /// The events it receives.
    #[schema(value_type = Vec<String>, example = json!(["job.finished"]))]
    pub events: [&'static str; 1],
    pub created_at: DateTime<Utc>,
}

impl WebhookView {
    /// Builds the view; `public_base` is the API's public URL without a trailing slash.
    pub(crate) fn new(endpoint: crate::db::webhooks::Endpoint, public_base: &str) -> Self {
        Self {
            self_url: format!("{public_base}/api/v1/webhooks/{}", endpoint.id),
            id: endpoint.id,
            url: endpoint.url,
            description: endpoint.description,
            events: [JOB_FINISHED],
            created_at: endpoint.created_at,
        }
    }
}

/// The answer to registering an endpoint: the endpoint and, this once, its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedWebhookView {
    pub id: Uuid,
    /// Where to read (or delete) this endpoint.
    pub self_url: String,
    /// Where the calls go.
    pub url: String,
    pub description: Option<String>,
    /// The events it receives.
    #[schema(value_type = Vec<String>, example = json!(["job.finished"]))]
    pub events: [&'static str; 1],
    pub created_at: DateTime<Utc>,
    /// The signing secret (`whsec_…`). Shown only here: keep it now.
    #[schema(example = "whsec_5e0c…")]
    pub secret: String,
}

impl CreatedWebhookView {
    /// The endpoint with its secret.
    pub(crate) fn new(endpoint: WebhookView, secret: String) -> Self {
        let WebhookView {
            id,
            self_url,
            url,
            description,
            events,
            created_at,
        } = endpoint;
        Self {
            id,
            self_url,
            url,
            description,
            events,
            created_at,
            secret,
        }
    }
}

/// One delivery of an event to an endpoint and how its attempts went.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookDeliveryView {
    pub id: Uuid,
    /// `job.finished`.
    #[schema(example = "job.finished")]
    pub event: String,
    pub job_id: Uuid,
    /// `pending`, `delivered` or `failed`.
    #[schema(value_type = WebhookDeliveryState)]
    pub state: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// HTTP status of the last attempt; `null` when it got no answer.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed; `null` when it succeeded or none was made.
    pub last_error: Option<String>,
    /// How long the last attempt took, in milliseconds.
    pub last_duration_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due; `null` once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Where a webhook delivery is (the values of [`WebhookDeliveryView::state`]).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(
    dead_code,
    reason = "only the OpenAPI document names the values; the view carries the stored text"
)]
pub(crate) enum WebhookDeliveryState {
    /// Not delivered yet; `next_attempt_at` says when it is tried.
    Pending,
    /// An attempt got a 2xx answer; never sent again.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl From<crate::db::webhooks::Delivery> for WebhookDeliveryView {
    fn from(d: crate::db::webhooks::Delivery) -> Self {
        Self {
            next_attempt_at: (d.state == "pending").then_some(d.next_attempt_at),
            id: d.id,
            event: d.event,
            job_id: d.job_id,
            state: d.state,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_duration_ms: d.last_duration_ms,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::progress_percent;

    #[test]
    fn row_values_keep_the_header_order() {
        let values = super::RowValues(vec![
            super::HeaderValue("Zeta".into(), Some("1".into())),
            super::HeaderValue("Alpha".into(), None),
        ]);
        assert_eq!(
            serde_json::to_string(&values).unwrap(),
            r#"{"Zeta":"1","Alpha":null}"#
        );
    }

    #[test]
    fn progress_is_a_whole_percentage_rounded_down() {
        assert_eq!(progress_percent(0, 0), 0);
        assert_eq!(progress_percent(1, 3), 33);
        assert_eq!(progress_percent(999, 1000), 99);
        assert_eq!(progress_percent(1000, 1000), 100);
        assert_eq!(progress_percent(5000, 1000), 100);
    }
}

/// The answer of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Liveness {
    /// Always `true`: the process answers.
    pub alive: bool,
}

/// The answer of `GET /readyz` while Postgres answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `"ok"`.
    pub postgres: String,
    /// `"ok"`, or why Redis is unavailable.
    pub redis: String,
    /// `true` while Redis is unavailable: uploads are kept but imported later.
    pub degraded: bool,
    /// Whether uploads are taken.
    pub accepting_uploads: bool,
}

/// Whether an API key works now (the values of [`ApiKeyView::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiKeyState {
    /// It authenticates.
    Active,
    /// Its `expires_at` has passed: it answers 401.
    Expired,
    /// Revoked: it answers 401.
    Revoked,
}

/// An API key of the tenant; never its secret or the secret's hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiKeyView {
    pub id: Uuid,
    /// A name for people; `null` for keys made without one.
    pub label: Option<String>,
    pub role: crate::domain::KeyRole,
    /// The key owner's email (error reports go there).
    pub email: String,
    /// The key's first characters (`bik_` and six more): not secret, enough to recognise it.
    #[schema(example = "bik_AbC123")]
    pub prefix: String,
    pub state: ApiKeyState,
    /// The key that created this one; `null` for keys made by an operator
    /// (`batch-import keys create`) or at first start.
    pub created_by: Option<Uuid>,
    /// The email of the owner of `created_by`.
    pub created_by_email: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the key was last used, to about a minute (it is recorded at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key stops working; `null`: never.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<crate::db::accounts::KeyRecord> for ApiKeyView {
    fn from(k: crate::db::accounts::KeyRecord) -> Self {
        let state = if k.revoked_at.is_some() {
            ApiKeyState::Revoked
        } else if k.expires_at.is_some_and(|at| at <= Utc::now()) {
            ApiKeyState::Expired
        } else {
            ApiKeyState::Active
        };
        Self {
            id: k.id,
            label: k.label,
            role: k.role,
            email: k.email,
            prefix: k.prefix,
            state,
            created_by: k.created_by,
            created_by_email: k.created_by_email,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The answer to creating an API key: the key and, this once, its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedApiKeyView {
    pub id: Uuid,
    pub label: Option<String>,
    pub role: crate::domain::KeyRole,
    pub email: String,
    #[schema(example = "bik_AbC123")]
    pub prefix: String,
    pub state: ApiKeyState,
    pub created_by: Option<Uuid>,
    pub created_by_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key itself (`bik_…`), to send in the `Authorization` header. Shown only here:
    /// only its hash is stored, it can never be shown again.
    #[schema(example = "bik_AbC123…")]
    pub secret: String,
}

impl CreatedApiKeyView {
    /// The key as listed, with its secret.
    pub(crate) fn new(key: ApiKeyView, secret: String) -> Self {
        let ApiKeyView {
            id,
            label,
            role,
            email,
            prefix,
            state,
            created_by,
            created_by_email,
            created_at,
            last_used_at,
            expires_at,
            revoked_at,
        } = key;
        Self {
            id,
            label,
            role,
            email,
            prefix,
            state,
            created_by,
            created_by_email,
            created_at,
            last_used_at,
            expires_at,
            revoked_at,
            secret,
        }
    }
}
