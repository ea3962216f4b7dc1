//! The OpenAPI 3.1 document of the API, served at `GET /api/v1/openapi.json`.
//!
//! The paths come from the router itself: [`super::documented_routes`] registers every
//! handler through utoipa-axum's `routes!`, which adds the handler's `#[utoipa::path]` to the
//! document at the same time as it adds the route, so the two cannot drift. This file adds
//! what is the same for every operation: the JSend envelopes, the API-key scheme and the
//! error answers that any authenticated request can get.

use std::sync::LazyLock;

use utoipa::{
    OpenApi, ToSchema,
    openapi::{
        self, Ref, RefOr,
        header::HeaderBuilder,
        link::LinkBuilder,
        path::Operation,
        response::ResponseBuilder,
        schema::{AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, Type},
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

use super::{
    error::MAINTENANCE_RETRY_AFTER_SECS,
    jsend::{Success, SuccessStatus},
    views::{
        ApiKeyView, ContactView, CreatedApiKeyView, CreatedWebhookView, JobErrorView, JobView,
        OpportunityView, SalesTargetView, WebhookDeliveryView, WebhookView,
    },
};
use crate::{
    domain::JobKind,
    import,
    views::{Liveness, Readiness},
};

/// The error envelopes, where the operations' `responses` name them.
pub(crate) use super::jsend::{JSendError, JSendFail};

/// The name of the security scheme: the API key in the `Authorization` header.
pub const API_KEY_SCHEME: &str = "api_key";

/// The document as served (pretty JSON), built once from the code.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        document()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    });
    &JSON
}

/// Builds the whole document: the router's paths, then the parts common to all of them.
pub(crate) fn document() -> openapi::OpenApi {
    let (_, mut doc) = super::documented_routes().split_for_parts();
    require_every_view_field(&mut doc);
    add_mapping_schemas(&mut doc);
    add_webhook_call(&mut doc);
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            if operation.security.is_some() {
                add_authenticated_errors(operation);
            }
            if operation
                .operation_id
                .as_deref()
                .is_some_and(|id| id.starts_with("upload_"))
            {
                add_links(operation, JOB_OPERATIONS);
                describe_mapping_parameter(operation);
            }
            add_event_item_schema(operation);
            if operation.operation_id.as_deref() == Some("create_webhook") {
                add_links(operation, WEBHOOK_OPERATIONS);
            }
        }
    }
    doc
}

/// The views (`src/api/views.rs`) serialise every field, `null` included (none has
/// `skip_serializing_if`), but utoipa marks `Option` fields as not required; a client may
/// count on each field being there, so the document says so.
fn require_every_view_field(doc: &mut openapi::OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (name, schema) in components.schemas.iter_mut() {
        if let (true, RefOr::T(openapi::schema::Schema::Object(object))) =
            (name.ends_with("View"), schema)
        {
            object.required = object.properties.keys().cloned().collect();
        }
    }
}

/// The operations a client (or a stateful test) can call next with the job an upload
/// answered with.
const JOB_OPERATIONS: &[(&str, &str)] = &[
    ("GetJob", "get_job"),
    ("CancelJob", "cancel_job"),
    ("FollowJobEvents", "follow_job_events"),
    ("GetJobErrorFile", "get_job_error_file"),
    ("GetJobUnprocessedFile", "get_job_unprocessed_file"),
    ("ListJobErrors", "list_job_errors"),
];

/// The operations a client (or a stateful test) can call next with the endpoint it just
/// registered.
const WEBHOOK_OPERATIONS: &[(&str, &str)] = &[
    ("GetWebhook", "get_webhook"),
    ("ListWebhookDeliveries", "list_webhook_deliveries"),
    ("DeleteWebhook", "delete_webhook"),
];

/// Links each answer with a `Location` header to `targets`, passing the answer's
/// `data.id` as their `id`.
fn add_links(operation: &mut Operation, targets: &[(&str, &str)]) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if response.headers.contains_key("Location") {
            for (name, operation_id) in targets {
                // utoipa 5 writes `LinkBuilder::operation_id` as `operation_id` instead of
                // the specification's `operationId`, so the field goes in as a keyword.
                let link = LinkBuilder::new()
                    .parameter("id", "$response.body#/data/id")
                    .extensions(Some(openapi::extensions::Extensions::from_iter([(
                        "operationId",
                        *operation_id,
                    )])))
                    .build();
                response.links.insert((*name).to_owned(), RefOr::T(link));
            }
        }
    }
}

/// The fixed parts of the document; [`document`] adds the paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "batch-import",
        description = "Asynchronous CSV import of sales data (opportunities, contacts, sales \
            targets).\n\nEvery JSON answer is JSend: `{\"status\":\"success\",\"data\":…}` on \
            success, `{\"status\":\"fail\",\"data\":{\"message\":…}}` for a 4xx and \
            `{\"status\":\"error\",\"message\":…}` for a 5xx. A known path asked with a method \
            it does not serve answers 405 (JSend fail) with an `Allow` header; an unknown path \
            answers 404 (JSend fail).\n\nAll operations except `/api/v1/healthz`, \
            `/api/v1/readyz`, `/api/v1/openapi.json` and `/metrics` need an API key in the \
            `Authorization` header (the key itself, or `Bearer <key>`). Uploads, cancels, \
            webhooks and managing other keys need an administrator's key.\n\nA registered webhook endpoint gets a \
            signed POST of the job when one ends: see `webhooks` (`jobFinished`) for the call \
            and its headers.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(JSendFail, JSendError, JobEvent)),
    modifiers(&SecurityAddon),
    tags(
        (name = "uploads", description = "Upload a CSV file; it is imported by a worker"),
        (name = "data", description = "What was imported, a page at a time"),
        (name = "jobs", description = "Import jobs: history, progress, errors, cancelling"),
        (name = "webhooks", description = "Endpoints that get a signed POST of each job that ends, and their deliveries"),
        (name = "keys", description = "The tenant's API keys: list, create (the secret shown once), revoke"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
pub(crate) struct ApiDoc;

/// Declares the API-key scheme.
struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The API key (`bik_…`), alone or as `Bearer <key>`; an admin makes one with \
                 `POST /api/v1/keys` (or the dashboard's Setup page), an operator with \
                 `batch-import keys create`.",
            ))),
        );
    }
}

/// Every operation of a path item.
fn operations(item: &mut openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// What any request with a key can meet before or besides its handler's own answers:
/// a missing or wrong key, the rate limits, and the database being down or failing.
fn add_authenticated_errors(operation: &mut Operation) {
    let retry_after = |description: &str| {
        HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .description(Some(description))
            .build()
    };
    let common = [
        (
            "401",
            fail("No API key, an unknown, revoked or expired key (the message says when it expired), or a key of another tenant's subdomain"),
        ),
        (
            "429",
            fail("This API key is over its rate limit (or, for event streams, has as many open as it may), or this address failed to authenticate too often").header(
                "Retry-After",
                retry_after("Whole seconds until a request is allowed again"),
            ),
        ),
        (
            "500",
            error("An unexpected failure; the details are logged"),
        ),
        (
            "503",
            error("The database is unavailable (or, for uploads, maintenance); try again later")
                .header(
                    "Retry-After",
                    retry_after(&format!(
                        "Sent in maintenance: {MAINTENANCE_RETRY_AFTER_SECS} seconds"
                    )),
                ),
        ),
    ];
    for (status, response) in common {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(response.build()));
    }
}

/// A JSend `fail` answer (4xx).
pub(crate) fn fail(description: &str) -> ResponseBuilder {
    json_response(description, "JSendFail")
}

/// A JSend `error` answer (5xx).
pub(crate) fn error(description: &str) -> ResponseBuilder {
    json_response(description, "JSendError")
}

fn json_response(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        openapi::Content::new(Some(Ref::from_schema_name(schema))),
    )
}

/// Names the JSend success envelope of one kind of `data` for the document: `$name` is
/// the type handlers answer with ([`Success`]`<$data>`), and the document shows it under
/// that name, with `data` described as `$doc_data` (the same as `$data` but for `()`,
/// which the document calls `null`).
macro_rules! jsend_success {
    ($(#[$doc:meta])* $name:ident, $data:ty) => {
        jsend_success!($(#[$doc])* $name, $data, $data);
    };
    ($(#[$doc:meta])* $name:ident, $data:ty, $doc_data:ty) => {
        $(#[$doc])*
        pub(crate) type $name = Success<$data>;

        const _: () = {
            // The schema as utoipa derives it for the envelope's fields, so that the
            // document describes exactly what `Success` serialises.
            $(#[$doc])*
            #[derive(ToSchema)]
            #[allow(dead_code)]
            struct Envelope {
                status: SuccessStatus,
                data: $doc_data,
            }

            impl utoipa::PartialSchema for Success<$data> {
                fn schema() -> RefOr<openapi::schema::Schema> {
                    <Envelope as utoipa::PartialSchema>::schema()
                }
            }

            impl ToSchema for Success<$data> {
                fn name() -> std::borrow::Cow<'static, str> {
                    std::borrow::Cow::Borrowed(stringify!($name))
                }

                fn schemas(schemas: &mut Vec<(String, RefOr<openapi::schema::Schema>)>) {
                    <Envelope as ToSchema>::schemas(schemas);
                }
            }
        };
    };
}

jsend_success!(
    /// One job.
    JobResponse,
    JobView
);
jsend_success!(
    /// A page of jobs, newest first.
    JobListResponse,
    Vec<JobView>
);
jsend_success!(
    /// A page of a job's failed rows, in line order.
    JobErrorListResponse,
    Vec<JobErrorView>
);
jsend_success!(
    /// A page of opportunities.
    OpportunityListResponse,
    Vec<OpportunityView>
);
jsend_success!(
    /// A page of contacts.
    ContactListResponse,
    Vec<ContactView>
);
jsend_success!(
    /// A page of sales targets.
    SalesTargetListResponse,
    Vec<SalesTargetView>
);
jsend_success!(
    /// A webhook endpoint, without its secret.
    WebhookResponse,
    WebhookView
);
jsend_success!(
    /// A webhook endpoint just registered, with its secret (shown only here).
    CreatedWebhookResponse,
    CreatedWebhookView
);
jsend_success!(
    /// A page of webhook endpoints, newest first.
    WebhookListResponse,
    Vec<WebhookView>
);
jsend_success!(
    /// A page of an endpoint's deliveries, newest first.
    WebhookDeliveryListResponse,
    Vec<WebhookDeliveryView>
);
jsend_success!(
    /// An API key of the tenant, without its secret.
    ApiKeyResponse,
    ApiKeyView
);
jsend_success!(
    /// An API key just created, with its secret (shown only here).
    CreatedApiKeyResponse,
    CreatedApiKeyView
);
jsend_success!(
    /// A page of the tenant's API keys, newest first.
    ApiKeyListResponse,
    Vec<ApiKeyView>
);
jsend_success!(
    /// Done; there is nothing to show (`data` is `null`).
    DeletedResponse,
    (),
    Null
);
jsend_success!(
    /// The process answers.
    LivenessResponse,
    Liveness
);
jsend_success!(
    /// The service's dependencies.
    ReadinessResponse,
    Readiness
);

/// JSON `null`: the `data` of an answer that has nothing to show (`()` in handlers).
pub(crate) struct Null;

impl utoipa::PartialSchema for Null {
    fn schema() -> RefOr<openapi::schema::Schema> {
        ObjectBuilder::new().schema_type(Type::Null).into()
    }
}

impl ToSchema for Null {}

/// The call a registered endpoint gets when a job ends, as an OpenAPI 3.1 `webhooks` entry
/// (utoipa has no builder for the top-level `webhooks`, so it goes in as an extra keyword).
fn add_webhook_call(doc: &mut openapi::OpenApi) {
    let header = |name: &str, description: &str| {
        serde_json::json!({
            "name": name, "in": "header", "required": true,
            "description": description, "schema": { "type": "string" },
        })
    };
    let call = serde_json::json!({
        "jobFinished": { "post": {
            "summary": "A job of the tenant ended (completed, failed or cancelled)",
            "description": "Sent to every endpoint of the tenant, signed; retried with \
                exponential backoff until a 2xx answer or `WEBHOOK_MAX_ATTEMPTS`. Redirects are \
                not followed. At least once: dedupe by `Batch-Import-Delivery`.",
            "operationId": "job_finished",
            "tags": ["webhooks"],
            "parameters": [
                header("Batch-Import-Event", "`job.finished`"),
                header("Batch-Import-Delivery", "The delivery's id, the same on every retry"),
                header(
                    "Batch-Import-Signature",
                    "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed with the \
                     endpoint's whole secret>`",
                ),
            ],
            "requestBody": {
                "description": "The job as `GET /api/v1/jobs/{id}` shows its `data` when it ended",
                "required": true,
                "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/JobView" },
                } },
            },
            "responses": {
                "2XX": { "description": "Delivered; never sent again" },
                "default": { "description": "Not delivered; retried later" },
            },
        } },
    });
    doc.extensions.get_or_insert_with(Default::default).merge(
        openapi::extensions::Extensions::from_iter([("webhooks", call)]),
    );
}

/// The body of `GET /jobs/{id}/events` as the document declares it: a `text/event-stream`
/// whose schema says nothing of the whole (generated clients then hand over the text, and
/// OpenAPI 3.1 tools would otherwise read `schema` as one event's), and whose
/// `itemSchema` (OpenAPI 3.2's name for the schema of each event, which Schemathesis checks
/// every event against) is [`JobEvent`]. [`document`] adds the `itemSchema`.
pub(crate) struct EventStream;

impl utoipa::PartialSchema for EventStream {
    fn schema() -> RefOr<openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(openapi::schema::SchemaType::AnyValue)
            .description(Some(
                "Server-Sent Events as text, one `event:`/`id:`/`data:` block per event, each \
                 as the `JobEvent` schema describes it",
            ))
            .into()
    }
}

impl ToSchema for EventStream {}

/// Declares each event of the event streams (`text/event-stream` answers) as a [`JobEvent`].
fn add_event_item_schema(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if let Some(content) = response.content.get_mut("text/event-stream") {
            content.extensions = Some(openapi::extensions::Extensions::from_iter([(
                "itemSchema",
                serde_json::json!({ "$ref": format!("#/components/schemas/{}", JobEvent::name()) }),
            )]));
        }
    }
}

/// One Server-Sent Event of `GET /jobs/{id}/events`, as an object of its fields: a `job`
/// event ([`JobChangedEvent`]) or a last `error` event ([`StreamErrorEvent`]). The stream
/// itself is declared as text ([`EventStream`]); this names what each event holds.
pub(crate) struct JobEvent;

impl utoipa::PartialSchema for JobEvent {
    fn schema() -> RefOr<openapi::schema::Schema> {
        openapi::schema::OneOfBuilder::new()
            .description(Some(
                "One event of `GET /jobs/{id}/events`: `job` while the job changes, or a last \
                 `error`",
            ))
            .item(Ref::from_schema_name(JobChangedEvent::name()))
            .item(Ref::from_schema_name(StreamErrorEvent::name()))
            .into()
    }
}

impl ToSchema for JobEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<openapi::schema::Schema>)>) {
        for (name, schema) in [
            (
                JobChangedEvent::name(),
                <JobChangedEvent as utoipa::PartialSchema>::schema(),
            ),
            (
                StreamErrorEvent::name(),
                <StreamErrorEvent as utoipa::PartialSchema>::schema(),
            ),
            (
                JobView::name(),
                <JobView as utoipa::PartialSchema>::schema(),
            ),
            (
                JSendError::name(),
                <JSendError as utoipa::PartialSchema>::schema(),
            ),
        ] {
            schemas.push((name.into(), schema));
        }
        JobView::schemas(schemas);
        JSendError::schemas(schemas);
    }
}

/// The fields of one event: `event: <name>`, `data: <JSON of data_schema>`, and an `id`.
fn event_schema(
    name: &str,
    id: bool,
    data_schema: &str,
    description: &str,
) -> RefOr<openapi::schema::Schema> {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    // `contentSchema` (JSON Schema 2020-12) says what the JSON text in `data` holds;
    // utoipa has no builder for it, so it goes in as an extra keyword.
    let data = string()
        .content_media_type("application/json")
        .extensions(Some(openapi::extensions::Extensions::from_iter([(
            "contentSchema",
            serde_json::json!({ "$ref": format!("#/components/schemas/{data_schema}") }),
        )])));
    let mut object = ObjectBuilder::new()
        .description(Some(description))
        // `const`, not a one-value `enum`: generated clients then type it as that literal
        // instead of an enum type of its own.
        .property(
            "event",
            string().extensions(Some(openapi::extensions::Extensions::from_iter([(
                "const",
                serde_json::json!(name),
            )]))),
        )
        .required("event")
        .property("data", data)
        .required("data");
    if id {
        object = object
            .property(
                "id",
                string().description(Some("1, 2, 3 … within the stream")),
            )
            .required("id");
    }
    object.into()
}

/// The `job` event: the job changed (its `data` is the job's JSON).
pub(crate) struct JobChangedEvent;

impl utoipa::PartialSchema for JobChangedEvent {
    fn schema() -> RefOr<openapi::schema::Schema> {
        event_schema(
            "job",
            true,
            "JobView",
            "The job changed (state, progress or counts); after its terminal state the stream \
             ends",
        )
    }
}

impl ToSchema for JobChangedEvent {}

/// The `error` event: the job could no longer be read (its `data` is a JSend error).
pub(crate) struct StreamErrorEvent;

impl utoipa::PartialSchema for StreamErrorEvent {
    fn schema() -> RefOr<openapi::schema::Schema> {
        event_schema(
            "error",
            false,
            "JSendError",
            "The job could no longer be read; the stream ends",
        )
    }
}

impl ToSchema for StreamErrorEvent {}

/// A file as a response body (the sample workbooks).
pub(crate) struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// This document, as `GET /openapi.json` answers it.
pub(crate) struct OpenApiDocument;

impl utoipa::PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("An OpenAPI 3.1 document"))
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

/// The names under which the document holds the column mapping of `kind` and the enum of
/// its supported fields (named, so that generated clients get types with these names).
fn mapping_schema_names(kind: JobKind) -> (&'static str, &'static str) {
    match kind {
        JobKind::Opportunities => ("OpportunityColumnMapping", "OpportunityField"),
        JobKind::Contacts => ("ContactColumnMapping", "ContactField"),
        JobKind::SalesTargets => ("SalesTargetColumnMapping", "SalesTargetField"),
    }
}

/// Adds each kind's column mapping and field enum to the document's schemas.
fn add_mapping_schemas(doc: &mut openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for kind in [
        JobKind::Opportunities,
        JobKind::Contacts,
        JobKind::SalesTargets,
    ] {
        let (mapping, field) = mapping_schema_names(kind);
        let fields: Vec<&str> = import::fields_of(kind).iter().map(|f| f.name).collect();
        let enum_schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A supported field of {} uploads",
                kind.as_str().replace('_', " ")
            )))
            .enum_values(Some(fields));
        components
            .schemas
            .insert(field.to_owned(), RefOr::T(enum_schema.into()));
        components
            .schemas
            .insert(mapping.to_owned(), RefOr::T(mapping_schema(kind)));
    }
}

/// The column mapping of one kind, as a JSON object: the file's column names → the
/// supported fields they hold (from the import engine's own field list).
pub(crate) fn mapping_schema(kind: JobKind) -> openapi::schema::Schema {
    let (_, field) = mapping_schema_names(kind);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Your file's column names → the supported fields they hold (the names here, or \
             their usual aliases); columns not named are matched by their headers",
        ))
        .additional_properties(Some(Ref::from_schema_name(field)))
        // No column name holds a NUL character; the server refuses one.
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[^\\u0000]*$")),
        ))
        .into()
}

fn upload_form(kind: JobKind) -> RefOr<openapi::schema::Schema> {
    ObjectBuilder::new()
        .property(
            "file",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                .min_length(Some(1))
                .description(Some(
                    "The CSV file (UTF-8, UTF-16 with BOM or Windows-1252; separated by `,` \
                     `;` tab or `|`) or workbook (.xlsx, .xlsm, .xls, .ods, recognised by its \
                     content); not empty",
                )),
        )
        .required("file")
        .property(
            "mapping",
            Ref::from_schema_name(mapping_schema_names(kind).0),
        )
        .property(
            "name",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(200))
                .description(Some(
                    "A name for the job, shown on it and matched by `GET /jobs?name=`: \
                     trimmed, at most 200 characters, no control characters; blank means \
                     none. Wins over the query parameter `name`",
                )),
        )
        .property(
            "validate_only",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some(
                    "A dry run: check the file and count what the import would do, storing \
                     nothing (the same as the query parameter `validate_only`)",
                )),
        )
        .property(
            "sheet",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(200))
                .description(Some(
                    "For a workbook: the sheet to import, by name or 1-based number (default: \
                     the first visible sheet). Wins over the query parameter `sheet`",
                )),
        )
        // Other fields are skipped by the server, but no client needs to send any.
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// Declares the multipart body of one kind's upload.
macro_rules! upload_form {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<openapi::schema::Schema> {
                upload_form($kind)
            }
        }

        impl ToSchema for $name {}
    };
}

upload_form!(
    /// The multipart body of an opportunities upload: `file`, and optionally `mapping`,
    /// `name`, `validate_only` and `sheet`.
    OpportunitiesUploadForm,
    JobKind::Opportunities
);
upload_form!(
    /// The multipart body of a contacts upload: `file`, and optionally `mapping`, `name`,
    /// `validate_only` and `sheet`.
    ContactsUploadForm,
    JobKind::Contacts
);
upload_form!(
    /// The multipart body of a sales targets upload: `file`, and optionally `mapping`,
    /// `name`, `validate_only` and `sheet`.
    SalesTargetsUploadForm,
    JobKind::SalesTargets
);

/// OpenAPI 3.1 describes a query parameter holding JSON by `content` instead of `schema`;
/// utoipa's `IntoParams` knows only `schema`, so the `mapping` parameter of each upload is
/// rewritten here with the kind's field names.
fn describe_mapping_parameter(operation: &mut Operation) {
    let kinds = [
        JobKind::Opportunities,
        JobKind::Contacts,
        JobKind::SalesTargets,
    ];
    let Some(kind) = kinds
        .into_iter()
        .find(|kind| operation.operation_id.as_deref() == Some(&upload_operation_id(*kind)))
    else {
        return;
    };
    let schema = serde_json::json!({
        "$ref": format!("#/components/schemas/{}", mapping_schema_names(kind).0)
    });
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.name == "mapping" {
            parameter.schema = None;
            parameter.extensions = Some(openapi::extensions::Extensions::from_iter([(
                "content",
                serde_json::json!({ "application/json": { "schema": schema } }),
            )]));
        }
    }
}

/// The `operationId` of the upload of `kind`, as `routes::uploads` declares it.
fn upload_operation_id(kind: JobKind) -> String {
    format!("upload_{}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_key_scheme() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(
            doc["components"]["securitySchemes"][API_KEY_SCHEME],
            serde_json::json!({"type": "apiKey", "in": "header", "name": "Authorization",
                "description": doc["components"]["securitySchemes"][API_KEY_SCHEME]["description"]})
        );
    }
}
