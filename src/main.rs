//! The `batch-import` binary: `serve`, `work`, `migrate`, `keys create`, `import`.

use anyhow::Context;
use batch_import::{config::Settings, db, domain::TenantSlug, startup, telemetry};
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
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
        /// Allow uploads with this user's keys.
        #[arg(long)]
        admin: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load().context("could not load the configuration")?;
    telemetry::init(&settings.log_format);
    match cli.command {
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
            batch_import::jobs::worker::run(settings, migrate, startup::shutdown_signal())
                .await
                .context("the worker stopped with an error")?;
        }
        Command::Migrate => {
            startup::database(&settings, 2, true)
                .await
                .context("migration failed")?;
            println!("migrations applied");
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    tenant,
                    email,
                    admin,
                },
        } => {
            let slug = TenantSlug::parse(&tenant).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                email_address::EmailAddress::is_valid(email.trim()),
                "{email:?} is not a valid email address"
            );
            let pool = startup::database(&settings, 2, settings.auto_migrate).await?;
            let key = db::accounts::create_key(&pool, &slug, &email, admin).await?;
            println!(
                "created an {} key for {email} of tenant {}; it is shown only once:",
                if admin { "admin" } else { "API" },
                slug.as_str()
            );
            println!("{}", key.expose());
        }
    }
    Ok(())
}
