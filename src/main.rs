//! The `batch-import` binary: `serve`, `work`, `migrate`, `keys create|list|revoke`, `import`,
//! the HTTP client commands `upload`, `jobs`, `job`, and `probe` (a container health check).

use anyhow::Context;
use std::{path::PathBuf, process::ExitCode};

use batch_import::{
    client,
    config::Settings,
    db,
    domain::{JobKind, TenantSlug},
    import, startup, telemetry,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "batch-import",
    version,
    about = "Asynchronous CSV imports of sales data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// Do not apply pending migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run a worker process that imports queued jobs.
    Work {
        /// Do not apply pending migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Import a CSV file directly with the same engine as the workers, without the
    /// queue; prints the counts. For operators and the engine benchmark.
    Import {
        /// What the file holds: opportunities, contacts or sales_targets.
        #[arg(long)]
        kind: JobKind,
        /// The tenant's slug (it must exist; `keys create` makes one).
        #[arg(long)]
        tenant: String,
        /// Where to write the error CSV (default: next to FILE as FILE.errors.csv).
        #[arg(long)]
        errors: Option<PathBuf>,
        /// JSON object mapping the file's headers to supported fields.
        #[arg(long)]
        mapping: Option<String>,
        /// The sheet of a workbook (.xlsx, .xlsm, .xls, .ods): a name or a 1-based index
        /// (default: the first visible sheet). Ignored for a CSV.
        #[arg(long)]
        sheet: Option<String>,
        /// Check the file and count what an import would do, storing nothing.
        #[arg(long)]
        validate_only: bool,
        /// The file: a CSV, or an Excel or OpenDocument workbook.
        file: PathBuf,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Upload a CSV to a running API, follow its job with progress bars, save the failed
    /// rows as FILE.errors.csv; the exit code says how it went (see --help).
    Upload(client::UploadArgs),
    /// Send a job's failed rows again, corrected in its error CSV (FILE.errors.csv), as a
    /// new job; follow it like `upload`, with the same exit codes.
    Fix(client::FixArgs),
    /// List the tenant's jobs from a running API, newest first.
    Jobs(client::JobsArgs),
    /// Show one job from a running API.
    Job(client::JobArgs),
    /// GET a health URL: exit 0 on a 2xx answer within 5 s, 1 otherwise. A container
    /// health check for the image, which has no curl (e.g. a worker's
    /// `http://127.0.0.1:8081/healthz` with `WORKER_HEALTH_ADDR`).
    Probe {
        /// The URL, e.g. `http://127.0.0.1:8081/healthz`.
        url: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key (and the tenant and user when missing); prints the key last.
    Create {
        /// The tenant's subdomain label, e.g. `acme`.
        #[arg(long)]
        tenant: String,
        /// The user's email; error reports go there.
        #[arg(long)]
        email: String,
        /// Make an admin key: uploads, cancels, webhooks and the tenant's keys.
        #[arg(long)]
        admin: bool,
        /// A name people recognise the key by (at most 100 characters).
        #[arg(long)]
        label: Option<String>,
        /// When the key stops working (RFC 3339, e.g. `2027-06-30T00:00:00Z`; in the
        /// future, at most ten years ahead); without it the key works until revoked.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List API keys (id, tenant, email, admin, created, revoked); never the keys themselves.
    List {
        /// Only the keys of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke an API key by its id (from `keys list`); it answers 401 from then on.
    Revoke {
        /// The key's id.
        id: uuid::Uuid,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    // A usage error exits 1 like any other error (clap's own code is 2, which `upload`
    // keeps for "some rows failed"); help and version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return Ok(ExitCode::from(u8::from(error.use_stderr())));
        }
    };
    // Before the runtime starts its threads: the setting applies to arenas made later.
    batch_import::alloc::limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the Tokio runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The client commands speak HTTP only: no configuration, no logging setup.
    let command = match cli.command {
        Command::Upload(args) => return Ok(client_exit(client::upload(args).await)),
        Command::Fix(args) => return Ok(client_exit(client::fix(args).await)),
        Command::Jobs(args) => return Ok(client_exit(client::jobs(args).await)),
        Command::Job(args) => return Ok(client_exit(client::job(args).await)),
        Command::Probe { url } => return Ok(probe(&url).await),
        command => command,
    };
    let settings = Settings::load().context("could not load the configuration")?;
    telemetry::init(&settings.log_format);
    match command {
        Command::Serve { no_migrate } => {
            let migrate = settings.auto_migrate && !no_migrate;
            let server = startup::ApiServer::build(settings, migrate)
                .await
                .context("could not start the API")?;
            tracing::info!(addr = %server.local_addr()?, "API listening");
            server.run(startup::shutdown_signal()).await?;
        }
        Command::Work { no_migrate } => {
            let migrate = settings.auto_migrate && !no_migrate;
            startup::run_worker(settings, migrate, startup::shutdown_signal())
                .await
                .context("the worker stopped with an error")?;
        }
        Command::Migrate => {
            startup::database(&settings, 2, true)
                .await
                .context("migration failed")?;
            println!("migrations applied");
        }
        Command::Import {
            kind,
            tenant,
            errors,
            mapping,
            sheet,
            validate_only,
            file,
        } => {
            let slug = TenantSlug::parse(&tenant).map_err(anyhow::Error::msg)?;
            let mapping = mapping
                .map(|m| serde_json::from_str(&m))
                .transpose()
                .context("--mapping must be a JSON object of strings")?;
            let connections = settings.import_writers as u32 + 2;
            let pool = startup::database(&settings, connections, settings.auto_migrate).await?;
            let tenant_id = db::accounts::tenant_id(&pool, &slug)
                .await?
                .with_context(|| {
                    format!(
                        "no tenant {:?}; create one with `keys create`",
                        slug.as_str()
                    )
                })?;
            let error_path = errors.unwrap_or_else(|| {
                let mut name = file.clone().into_os_string();
                name.push(".errors.csv");
                PathBuf::from(name)
            });
            let request = import::ImportRequest {
                tenant_id,
                job_id: None,
                path: file,
                error_path: error_path.clone(),
                mapping,
                sheet: sheet.as_deref().map(import::workbook::SheetChoice::parse),
                chunk_rows: settings.import_chunk_rows,
                writers: settings.import_writers,
                dry_run: validate_only,
            };
            let started = std::time::Instant::now();
            let outcome = import::run(kind, &pool, request, import::Progress::None).await?;
            let counts = outcome.counts;
            println!("total_original_rows={}", counts.total_original_rows);
            println!("total_imported_rows={}", counts.total_imported_rows);
            println!("total_error_rows={}", counts.total_error_rows);
            let error_file = if outcome.error_file {
                error_path.display().to_string()
            } else {
                String::new()
            };
            println!("error_file={error_file}");
            println!("created_rows={}", counts.created_rows);
            println!("updated_rows={}", counts.updated_rows);
            println!("unchanged_rows={}", counts.unchanged_rows);
            println!("dry_run={validate_only}");
            println!("seconds={:.3}", started.elapsed().as_secs_f64());
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    tenant,
                    email,
                    admin,
                    label,
                    expires_at,
                },
        } => {
            let slug = TenantSlug::parse(&tenant).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                email_address::EmailAddress::is_valid(email.trim()),
                "{email:?} is not a valid email address"
            );
            let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
            anyhow::ensure!(
                label
                    .as_ref()
                    .is_none_or(|l| l.chars().count() <= 100 && !l.chars().any(char::is_control)),
                "--label must be at most 100 characters, without control characters"
            );
            let expires_at = expires_at
                .map(|raw| {
                    batch_import::domain::parse_expiry(&raw, chrono::Utc::now())
                        .map_err(|e| anyhow::anyhow!("--expires-at {e}"))
                })
                .transpose()?;
            let pool = startup::database(&settings, 2, settings.auto_migrate).await?;
            let key = db::accounts::create_labelled_key(
                &pool,
                &slug,
                &email,
                admin,
                label.as_deref(),
                expires_at,
            )
            .await?;
            println!(
                "created an {} key for {email} of tenant {}; it is shown only once:",
                if admin { "admin" } else { "API" },
                slug.as_str()
            );
            println!("{}", key.expose());
        }
        Command::Keys {
            command: KeysCommand::List { tenant },
        } => {
            let slug = tenant
                .map(|t| TenantSlug::parse(&t).map_err(anyhow::Error::msg))
                .transpose()?;
            let pool = startup::database(&settings, 2, settings.auto_migrate).await?;
            let keys = db::accounts::list_keys(&pool, slug.as_ref()).await?;
            print!("{}", key_table(&keys));
        }
        Command::Keys {
            command: KeysCommand::Revoke { id },
        } => {
            let pool = startup::database(&settings, 2, settings.auto_migrate).await?;
            match db::accounts::revoke_key(&pool, id).await? {
                db::accounts::Revoked::Now(at) => println!("revoked key {id} at {}", timestamp(at)),
                db::accounts::Revoked::Already(at) => {
                    println!("key {id} was already revoked at {}", timestamp(at))
                }
                db::accounts::Revoked::NotFound => anyhow::bail!("no API key with id {id}"),
            }
        }
        Command::Upload(_)
        | Command::Fix(_)
        | Command::Jobs(_)
        | Command::Job(_)
        | Command::Probe { .. } => {
            unreachable!("the client commands return above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A client command's exit code; its error on stderr as one line with its causes (the
/// API's message first), without the backtrace `anyhow` prints for the server commands.
fn client_exit(result: Result<ExitCode, client::ClientError>) -> ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {:#}", anyhow::Error::from(error));
        ExitCode::from(client::EXIT_FAILED)
    })
}

/// `probe`: one GET, success only for a 2xx answer; the reason on stderr otherwise.
async fn probe(url: &str) -> ExitCode {
    let answer = async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?;
        client.get(url).send().await?.error_for_status()
    };
    match answer.await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("unhealthy: {url}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `keys list` output: one aligned row per key under a header row.
fn key_table(keys: &[db::accounts::KeyInfo]) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "TENANT".to_owned(),
        "EMAIL".to_owned(),
        "ADMIN".to_owned(),
        "CREATED".to_owned(),
        "REVOKED".to_owned(),
    ]];
    rows.extend(keys.iter().map(|k| {
        [
            k.id.to_string(),
            k.tenant.clone(),
            k.email.clone(),
            if k.is_admin { "yes" } else { "no" }.to_owned(),
            timestamp(k.created_at),
            k.revoked_at.map_or_else(|| "-".to_owned(), timestamp),
        ]
    }));
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A UTC time to the second, as `keys list` and `keys revoke` print it.
fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
