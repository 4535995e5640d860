//! PLACEHOLDER until the fax PDF renderer lands (being written now).
use crate::domain::RenderedContent;

pub struct FaxDocument {
    pub bytes: Vec<u8>,
    pub pages: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum FaxRenderError {
    #[error("not yet")]
    NotYet,
}

impl FaxRenderError {
    pub fn code(&self) -> &'static str {
        "not_yet"
    }
}

pub fn render(_content: &RenderedContent) -> Result<FaxDocument, FaxRenderError> {
    Err(FaxRenderError::NotYet)
}

pub fn page_count(_content: &RenderedContent) -> Result<u32, FaxRenderError> {
    Err(FaxRenderError::NotYet)
}
