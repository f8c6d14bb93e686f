//! Reading a secret's value from AWS Secrets Manager (`GetSecretValue`), with the credentials of
//! wherever this runs: a Batch job's role in its container, the user's chain on their machine.

use crate::Settings;

/// Why a secret could not be read. The message names the secret's id (never a value).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// The value of secret `id` (its name or ARN): its string, or its binary value; with `key`, the
/// member `key` of the JSON object the string holds (a JSON string member as its text, any other
/// member as its JSON).
pub async fn get_secret(
    settings: &Settings,
    id: &str,
    key: Option<&str>,
) -> Result<Vec<u8>, SecretError> {
    let sdk = crate::load(settings).await;
    let client = aws_sdk_secretsmanager::Client::from_conf(
        crate::builder!(aws_sdk_secretsmanager, &sdk, settings).build(),
    );
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            let not_found = e
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception());
            SecretError(if not_found {
                "no such secret (ResourceNotFoundException)".into()
            } else {
                format!(
                    "GetSecretValue failed: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })
        })?;
    let whole = match (out.secret_string(), out.secret_binary()) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(b)) => b.as_ref().to_vec(),
        (None, None) => return Err(SecretError("the secret has no value".into())),
    };
    let Some(key) = key else { return Ok(whole) };
    // Parse errors are not shown: serde_json's would quote none of the value, but say nothing
    // useful either.
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&whole)
        .map_err(|_| {
            SecretError(format!(
                "key `{key}` asked for, but the secret's value is not a JSON object"
            ))
        })?;
    match object.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(other) => Ok(other.to_string().into_bytes()),
        None => Err(SecretError(format!(
            "the secret's JSON object has no key `{key}`"
        ))),
    }
}
