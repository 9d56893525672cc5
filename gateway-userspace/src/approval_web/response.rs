//! Building the page's answers, every one with the same protective headers:
//! no framing, no caching, no sniffing, scripts and styles only from the
//! page's own origin (the request content shown is agent-controlled).

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, combinators::UnsyncBoxBody};
use serde::Serialize;

pub type WebBody = UnsyncBoxBody<Bytes, Infallible>;

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub const HTML: &str = "text/html; charset=utf-8";
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";
pub const JSON: &str = "application/json";
pub const EVENT_STREAM: &str = "text/event-stream";

/// A response with the protective headers and `content_type`.
pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: WebBody,
) -> Response<WebBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

pub fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<WebBody> {
    with_body(status, content_type, Full::new(body.into()).boxed_unsync())
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<WebBody> {
    match serde_json::to_vec(value) {
        Ok(body) => full(status, JSON, body),
        Err(error) => error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("encoding the answer: {error}"),
        ),
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

pub fn error_json(status: StatusCode, error: &str, message: &str) -> Response<WebBody> {
    json(status, &ErrorBody { error, message })
}

/// A small page of plain text in HTML; `message` is escaped.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response<WebBody> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>\n",
        t = escape_html(title),
        m = escape_html(message),
    );
    full(status, HTML, body)
}

pub fn redirect_with_cookie(location: &'static str, cookie: &str) -> Response<WebBody> {
    let mut response = full(StatusCode::SEE_OTHER, HTML, "");
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Text safe inside HTML elements and quoted attributes.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
