//! Free-text fields: bounded, so that a record always fits in one DynamoDB
//! item and a message template, and checked before anything is written.

/// Names, providers, locations: generous for any real value.
pub const MAX_TEXT_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1 to {MAX_TEXT_CHARS} characters")]
pub struct InvalidText {
    pub field: &'static str,
}

/// Checks a required text field: not blank, not too long.
pub fn check(field: &'static str, value: &str) -> Result<(), InvalidText> {
    if value.trim().is_empty() || value.chars().count() > MAX_TEXT_CHARS {
        return Err(InvalidText { field });
    }
    Ok(())
}

/// The rule as OpenAPI states it: 1 to [`MAX_TEXT_CHARS`] characters, not
/// all blank.
pub fn schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_TEXT_CHARS))
        .pattern(Some(r"\S"))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_or_overlong_text_is_refused() {
        assert!(check("provider", "Dr. Ruiz").is_ok());
        assert_eq!(check("provider", "  "), Err(InvalidText { field: "provider" }));
        assert!(check("provider", &"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(check("provider", &"é".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }
}
