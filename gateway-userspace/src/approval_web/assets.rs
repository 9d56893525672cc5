//! The page itself: one HTML file, its script and its style, built into
//! the binary (no CDN, no build step). The script and style are separate
//! files so the Content-Security-Policy can forbid inline code.

use http::{Response, StatusCode};

use super::response::{self, WebBody, full};

const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const APP_CSS: &str = include_str!("assets/app.css");

/// Where the page's copy of the CSRF value goes (a hex string: nothing to
/// escape).
const CSRF_SLOT: &str = "{{CSRF}}";

pub fn index(csrf: &str) -> Response<WebBody> {
    full(
        StatusCode::OK,
        response::HTML,
        INDEX_HTML.replace(CSRF_SLOT, csrf),
    )
}
