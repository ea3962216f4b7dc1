//! `POST /{kind}/upload`: stream the CSV to the file store, create the job, enqueue it.
//! With an `Idempotency-Key` header, a repeated upload answers with its first job.

use axum::{
    extract::{
        Multipart, State,
        multipart::{MultipartError, MultipartRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::Query,
        jsend, openapi,
        views::{JobView, job_url},
    },
    db::jobs::{ColumnMapping, NewJob},
    domain::{JobKind, JobName},
    import,
    jobs::{
        idempotency::{self, IdempotencyError, IdempotencyKey, Submitted},
        submit,
    },
    storage::{StoreError, StoredUpload},
};

/// The request header that makes an upload idempotent.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Set on an answer that repeats an earlier upload's job instead of creating one.
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The upload's query parameters.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// Email the uploader when rows fail (default false; `1`/`0`, `yes`/`no` also work).
    #[param(value_type = Option<bool>)]
    send_error_email: Option<String>,
    /// Hold the request until the job ends, at most `upload_wait_timeout_secs` (default
    /// false; `1`/`0`, `yes`/`no` also work).
    #[param(value_type = Option<bool>)]
    wait: Option<String>,
    /// A JSON object from the file's column names to the kind's supported fields, e.g.
    /// `{"NAME":"Opportunity Name"}`; the same as the multipart field `mapping`.
    mapping: Option<String>,
    /// A dry run: check the file as the import would and count what it would do
    /// (`created_rows`, `updated_rows`, `unchanged_rows`, the error CSV), storing nothing;
    /// the job shows `dry_run: true` (default false; `1`/`0`, `yes`/`no` also work). The
    /// same as the multipart field `validate_only`.
    #[param(value_type = Option<bool>)]
    validate_only: Option<String>,
    /// A name for the job, shown on it and matched by `GET /jobs?name=`: trimmed, at most
    /// 200 characters, no control characters; blank means none. The same as the multipart
    /// field `name`, which wins over this.
    #[param(max_length = 200, example = "Q3 pipeline")]
    name: Option<String>,
    /// For a workbook upload (.xlsx, .xlsm, .xls, .ods): the sheet to import, by name or
    /// 1-based index (default: the first visible sheet); an unknown sheet is a 400 that
    /// lists the workbook's sheets. Ignored for a CSV. The same as the multipart field
    /// `sheet`, which wins over this.
    #[param(max_length = 200, example = "Pipeline")]
    sheet: Option<String>,
}

/// The upload's optional header, as the OpenAPI document describes it; the handler reads
/// it from the [`HeaderMap`] so that it can refuse a repeated header.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(
    dead_code,
    reason = "only the OpenAPI document reads it; the handler reads the header"
)]
pub(crate) struct IdempotencyHeader {
    /// 1–255 visible ASCII characters. The same key with the same file answers with the
    /// first upload's job (`Idempotent-Replayed: true`) instead of importing it again; with
    /// another file it is a 409.
    #[param(
        rename = "Idempotency-Key",
        pattern = "^[!-~]{1,255}$",
        nullable = false
    )]
    pub idempotency_key: Option<String>,
}

/// Declares the upload handler of one kind, with its place in the OpenAPI document.
macro_rules! upload_handler {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $path:literal, $operation_id:literal, $form:ty, $example:literal) => {
        $(#[$doc])*
        #[utoipa::path(
            post,
            path = $path,
            operation_id = $operation_id,
            tag = "uploads",
            params(
                UploadQuery,
                IdempotencyHeader,
            ),
            request_body(
                content = $form,
                content_type = "multipart/form-data",
                example = json!({ "file": $example }),
            ),
            responses(
                (status = 200, description = "The job has already ended (`wait=true`, or a replay of an ended job)", body = openapi::JobResponse, headers(
                    ("Location" = String, description = "The job's URL"),
                    ("Idempotent-Replayed" = String, description = "`true` when this repeats an earlier upload's job"),
                )),
                (status = 202, description = "The file is stored and the job is queued (or still running)", body = openapi::JobResponse, headers(
                    ("Location" = String, description = "The job's URL"),
                    ("Idempotent-Replayed" = String, description = "`true` when this repeats an earlier upload's job"),
                )),
                (status = 400, description = "Not multipart, no `file` field, an empty file, a bad flag, mapping or Idempotency-Key", body = openapi::JSendFail),
                (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
                (status = 409, description = "The Idempotency-Key was used for another file", body = openapi::JSendFail),
                (status = 413, description = "The file is over `max_upload_bytes`", body = openapi::JSendFail),
                (status = 429, description = "The tenant has `tenant_max_queued` jobs waiting to run already (or the key is over its rate limit); nothing was kept", body = openapi::JSendFail, headers(
                    ("Retry-After" = u64, description = "Seconds after which an upload is likely accepted"),
                )),
                (status = 507, description = "The file store is full; nothing was kept", body = openapi::JSendError),
            ),
            security(("api_key" = [])),
        )]
        pub(crate) async fn $name(
            state: State<AppState>,
            caller: Caller,
            query: Query<UploadQuery>,
            headers: HeaderMap,
            multipart: Result<Multipart, MultipartRejection>,
        ) -> Result<Response, ApiError> {
            upload($kind, state, caller, query, headers, multipart).await
        }
    };
}

upload_handler!(
    /// Uploads a CSV of opportunities; a worker imports it. Answers with the job.
    opportunities,
    JobKind::Opportunities,
    "/opportunities/upload",
    "upload_opportunities",
    openapi::OpportunitiesUploadForm,
    "Opportunity ID,Opportunity Name,Amount\nO-1,First deal,1200.50\nO-2,,not a number\n"
);
upload_handler!(
    /// Uploads a CSV of contacts; a worker imports it. Answers with the job.
    contacts,
    JobKind::Contacts,
    "/contacts/upload",
    "upload_contacts",
    openapi::ContactsUploadForm,
    "Email,Fullname\nann@example.com,Ann Lee\nnot-an-email,Bob Stone\n"
);
upload_handler!(
    /// Uploads a CSV of sales targets; a worker imports it. Answers with the job.
    sales_targets,
    JobKind::SalesTargets,
    "/sales_targets/upload",
    "upload_sales_targets",
    openapi::SalesTargetsUploadForm,
    "Email Address of Salesrep,Month,Amount\nrep@example.com,2026-01,5000\nrep@example.com,someday,5000\n"
);

async fn upload(
    kind: JobKind,
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    // Before a byte of the body is read: in maintenance nothing is stored.
    if state.settings.maintenance {
        return Err(ApiError::Maintenance);
    }
    let send_error_email = flag(query.send_error_email.as_deref(), "send_error_email")?;
    let wait = flag(query.wait.as_deref(), "wait")?;
    let mapping = query.mapping.as_deref().map(parse_mapping).transpose()?;
    let validate_only = flag(query.validate_only.as_deref(), "validate_only")?;
    let name = query.name.as_deref().map(parse_name).transpose()?.flatten();
    let sheet = query
        .sheet
        .as_deref()
        .map(parse_sheet)
        .transpose()?
        .flatten();
    let idempotency_key = idempotency_key(&headers)?;
    refuse_declared_oversize(&headers, state.settings.max_upload_bytes)?;
    // Before a byte of the body is read too: a full queue refuses the upload. A repeated
    // Idempotency-Key may name a job already made, so its answer waits for the key lookup
    // (the limit is checked again, atomically, when the job is recorded).
    if idempotency_key.is_none()
        && let Some(full) = crate::db::schedule::queue_full(
            &state.db,
            caller.tenant_id,
            state.settings.tenant_max_queued,
        )
        .await?
    {
        return Err(full.into());
    }
    let mut multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "send the CSV as multipart/form-data in a field named \"file\" ({e})"
        ))
    })?;

    let job_id = Uuid::new_v4();
    let fields = Fields {
        mapping,
        name,
        validate_only,
        sheet,
    };
    let (
        file_name,
        upload,
        Fields {
            mapping,
            name,
            validate_only,
            sheet,
        },
    ) = store_checked_file(&state, kind, job_id, &mut multipart, fields).await?;
    let new_job = NewJob {
        id: job_id,
        tenant_id: caller.tenant_id,
        user_id: caller.user_id,
        kind,
        file_name,
        name: name.map(JobName::into_inner),
        file_size: upload.size as i64,
        column_mapping: mapping,
        sheet,
        send_error_email,
        dry_run: validate_only,
        file_sha256: idempotency_key.is_some().then(|| upload.sha256.to_vec()),
        idempotency_key: idempotency_key.map(IdempotencyKey::into_inner),
        parent_job_id: None,
        reverts_job_id: None,
    };
    let submitted = idempotency::submit_once(
        &state.db,
        &state.queue,
        &state.store,
        &new_job,
        state.settings.tenant_max_queued,
    )
    .await?;
    let (mut job, replayed) = match submitted {
        Submitted::New(job) => (job, false),
        Submitted::Replayed(job) => (job, true),
    };
    if wait {
        job = submit::wait_until_finished(&state.db, job, state.settings.upload_wait_timeout())
            .await?;
    }
    let status = if job.state().is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let base = state.settings.public_base();
    let location = job_url(base, job.id);
    let view = JobView::of_one(&state.db, job, base).await?;
    let mut response =
        (status, [(header::LOCATION, location)], jsend::success(view)).into_response();
    if replayed {
        response.headers_mut().insert(
            IDEMPOTENT_REPLAYED,
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Refuses at once what cannot fit, before reading a byte (multipart framing aside).
fn refuse_declared_oversize(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit + 64 * 1024) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(())
}

/// The upload's settings that may come as a query parameter or as a multipart field
/// (the field wins).
#[derive(Debug, Default)]
struct Fields {
    mapping: Option<ColumnMapping>,
    name: Option<JobName>,
    /// A dry run (`validate_only`).
    validate_only: bool,
    /// The workbook sheet (`sheet`), as given.
    sheet: Option<String>,
}

/// Stores the upload and checks it is importable at all (not empty, a mapping that names
/// supported fields); on any refusal nothing is kept. Returns the file's name, what was
/// stored and the settings (from the query or the multipart fields).
async fn store_checked_file(
    state: &AppState,
    kind: JobKind,
    job_id: Uuid,
    multipart: &mut Multipart,
    mut fields: Fields,
) -> Result<(String, StoredUpload, Fields), ApiError> {
    let stored = receive(state, job_id, multipart, &mut fields).await;
    let (file_name, upload) = match stored {
        Ok(Some(file)) => file,
        Ok(None) => {
            return Err(ApiError::BadRequest(
                "the multipart field \"file\" with the CSV is missing".into(),
            ));
        }
        Err(e) => {
            state.store.remove_upload(job_id).await;
            return Err(e);
        }
    };
    let checked = if upload.size == 0 {
        Err(ApiError::BadRequest("the file is empty".into()))
    } else if let Some(mapping) = &fields.mapping {
        import::header::validate_mapping(mapping, import::fields_of(kind))
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    } else {
        Ok(())
    };
    let checked = match (checked, &fields.sheet) {
        (Ok(()), Some(sheet)) => check_sheet(state, job_id, sheet).await,
        (other, _) => other,
    };
    if let Err(e) = checked {
        state.store.remove_upload(job_id).await;
        return Err(e);
    }
    Ok((file_name, upload, fields))
}

/// The optional `Idempotency-Key` header, validated (one value of 1–255 visible ASCII).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one Idempotency-Key header, not several".into(),
        ));
    }
    IdempotencyKey::parse(value.as_bytes())
        .map(Some)
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

impl From<IdempotencyError> for ApiError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::KeyReused => Self::Conflict(error.to_string()),
            IdempotencyError::QueueFull(full) => full.into(),
            IdempotencyError::Database(e) => e.into(),
        }
    }
}

/// Reads the multipart fields: streams `file` to disk, takes `mapping` as JSON and
/// `name` as text and `validate_only` as a flag.
async fn receive(
    state: &AppState,
    job_id: Uuid,
    multipart: &mut Multipart,
    fields: &mut Fields,
) -> Result<Option<(String, StoredUpload)>, ApiError> {
    let limit = state.settings.max_upload_bytes;
    let mut file = None;
    let multipart_error = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(format!(
                "the multipart body could not be read: {}",
                e.body_text()
            ))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") if file.is_some() => {
                return Err(ApiError::BadRequest("send one file per upload".into()));
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("upload.csv").to_owned();
                let stored = state.store.save_upload(job_id, field, limit).await?;
                file = Some((name, stored));
            }
            Some("mapping") => {
                let text = field.text().await.map_err(multipart_error)?;
                fields.mapping = Some(parse_mapping(&text)?);
            }
            Some("name") => {
                let text = field.text().await.map_err(multipart_error)?;
                fields.name = parse_name(&text)?;
            }
            Some("validate_only") => {
                let text = field.text().await.map_err(multipart_error)?;
                fields.validate_only = flag(Some(&text), "validate_only")?;
            }
            Some("sheet") => {
                let text = field.text().await.map_err(multipart_error)?;
                fields.sheet = parse_sheet(&text)?;
            }
            _ => {} // Unknown fields are skipped (their data is drained by next_field).
        }
    }
    Ok(file)
}

/// `true/1/yes` or `false/0/no` (or empty), as query strings spell booleans.
pub(crate) fn flag(value: Option<&str>, name: &str) -> Result<bool, ApiError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// A sheet choice: trimmed, blank means none, at most 200 characters, no control
/// characters (Excel allows 31 for a name; the index is a number).
fn parse_sheet(raw: &str) -> Result<Option<String>, ApiError> {
    let sheet = raw.trim();
    if sheet.is_empty() {
        return Ok(None);
    }
    if sheet.chars().count() > 200 || sheet.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "sheet must be a sheet's name or its 1-based number: at most 200 characters, no \
             control characters"
                .into(),
        ));
    }
    Ok(Some(sheet.to_owned()))
}

/// When the upload is a workbook, checks that it has the sheet asked for: an unknown
/// sheet is the uploader's mistake, answered at once with the sheets there are. Anything
/// else wrong with the workbook is for the job to report. A CSV has no sheets to check.
async fn check_sheet(state: &AppState, job_id: Uuid, sheet: &str) -> Result<(), ApiError> {
    let local = state.store.local_upload(job_id).await?;
    let path = local.path().to_owned();
    let choice = import::workbook::SheetChoice::parse(sheet);
    // Only the workbook's sheet list is read, not the sheet; a CSV has nothing to check.
    let refused = tokio::task::spawn_blocking(move || {
        let format = import::workbook::detect(&path).ok()??;
        import::workbook::sheet_for(&path, format, Some(&choice)).err()
    })
    .await
    .map_err(|e| StoreError::from(std::io::Error::other(e)))?;
    match refused {
        Some(e) if e.is_unknown_sheet() => Err(ApiError::BadRequest(e.to_string())),
        _ => Ok(()),
    }
}

fn parse_name(raw: &str) -> Result<Option<JobName>, ApiError> {
    JobName::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn parse_mapping(raw: &str) -> Result<ColumnMapping, ApiError> {
    let mapping: ColumnMapping = serde_json::from_str(raw).map_err(|e| {
        ApiError::BadRequest(format!(
            "mapping must be a JSON object from your file's column names to supported fields: {e}"
        ))
    })?;
    // `\u0000` is valid JSON, but no column name holds it and the job's row cannot store it.
    if mapping
        .iter()
        .any(|(column, field)| column.contains('\0') || field.contains('\0'))
    {
        return Err(ApiError::BadRequest(
            "mapping must not contain a NUL character (\\u0000)".into(),
        ));
    }
    Ok(mapping)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_the_usual_spellings() {
        assert!(!flag(None, "x").unwrap());
        assert!(flag(Some("TRUE"), "x").unwrap());
        assert!(flag(Some("1"), "x").unwrap());
        assert!(!flag(Some("false"), "x").unwrap());
        assert!(flag(Some("maybe"), "x").is_err());
    }

    #[test]
    fn mapping_must_be_a_json_object_of_strings() {
        assert_eq!(
            parse_mapping(r#"{"NAME":"Opportunity Name"}"#).unwrap()["NAME"],
            "Opportunity Name"
        );
        assert!(parse_mapping("[1,2]").is_err());
        assert!(parse_mapping("{\"a\": 1}").is_err());
        assert!(parse_mapping(r#"{"a\u0000": "Email"}"#).is_err());
    }
}
