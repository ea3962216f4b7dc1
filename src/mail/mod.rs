//! Error-report emails over SMTP.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType},
};

/// Why an email could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `SMTP_URL` could not be understood.
    #[error("invalid SMTP_URL: {0}")]
    Url(String),
    /// An address (sender or recipient) is not valid.
    #[error("invalid email address {0:?}")]
    Address(String),
    /// The message could not be assembled.
    #[error("could not build the email: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused or could not be reached.
    #[error("SMTP error: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl MailError {
    /// True when trying again later may succeed (server unreachable, 4xx replies).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Smtp(e) => !e.is_permanent(),
            _ => false,
        }
    }
}

/// An email to send, with an optional CSV attachment.
#[derive(Debug, Clone)]
pub(crate) struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The same message as HTML, sent beside the text as `multipart/alternative`.
    pub html: Option<String>,
    /// File name and content of a CSV attachment.
    pub attachment: Option<(String, Vec<u8>)>,
}

/// Sends email through one SMTP server.
#[derive(Clone)]
pub struct EmailClient {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailClient {
    /// Builds a client from an SMTP URL (`smtp://`, `smtps://`, `?tls=required`) and a sender.
    pub(crate) fn new(smtp_url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|_| MailError::Address(from.to_owned()))?;
        Ok(Self { transport, from })
    }

    /// Sends one email.
    pub(crate) async fn send(&self, email: Email) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| MailError::Address(email.to.clone()))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject);
        let message = match (email.html, email.attachment) {
            (None, None) => builder.singlepart(SinglePart::plain(email.body))?,
            (None, Some(attachment)) => builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(email.body))
                    .singlepart(csv_attachment(attachment)),
            )?,
            (Some(html), None) => {
                builder.multipart(MultiPart::alternative_plain_html(email.body, html))?
            }
            (Some(html), Some(attachment)) => builder.multipart(
                MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(email.body, html))
                    .singlepart(csv_attachment(attachment)),
            )?,
        };
        self.transport.send(message).await?;
        Ok(())
    }
}

fn csv_attachment((name, content): (String, Vec<u8>)) -> SinglePart {
    Attachment::new(name).body(content, ContentType::parse("text/csv").expect("valid mime"))
}
