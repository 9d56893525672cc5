//! Which request gets which answer, after the access checks.

use std::{convert::Infallible, sync::Arc};

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::{
    Site,
    access::Refusal,
    api, assets, events,
    response::{self, WebBody, error_json, error_page, full},
};
use crate::approvals::desk::Verdict;

const HOW_TO_OPEN: &str = "This page needs its access link. On the gateway's host, as root, run \
     `gateway approvals web-url --config <your gateway.toml>` and open the URL it prints.";

pub async fn handle(
    site: Arc<Site>,
    request: Request<Incoming>,
) -> Result<Response<WebBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if site.gate.check_host(&parts.headers).is_err() {
        tracing::info!(host = ?parts.headers.get(http::header::HOST), path, "web page request refused: wrong Host");
        return Ok(refused(Refusal::WrongHost, path));
    }
    // The token link: trade the token for the session cookie.
    if parts.method == Method::GET
        && path == "/"
        && let Some(token) = query_value(parts.uri.query(), "token")
    {
        return Ok(if site.gate.token_matches(token) {
            response::redirect_with_cookie("/", &site.gate.session_cookie())
        } else {
            tracing::info!("web page token link refused: wrong token");
            refused(Refusal::NoSession, path)
        });
    }
    if let Err(refusal) = site.gate.check_session(&parts.headers) {
        return Ok(refused(refusal, path));
    }
    if parts.method == Method::POST
        && let Err(refusal) = site.gate.check_same_origin(&parts.headers)
    {
        tracing::info!(path, origin = ?parts.headers.get(http::header::ORIGIN), "web page decision refused: cross-site");
        return Ok(refused(refusal, path));
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    Ok(match (&parts.method, segments.as_slice()) {
        (&Method::GET, [""]) => assets::index(site.gate.csrf()),
        (&Method::GET, ["app.js"]) => full(StatusCode::OK, response::JAVASCRIPT, assets::APP_JS),
        (&Method::GET, ["app.css"]) => full(StatusCode::OK, response::CSS, assets::APP_CSS),
        (&Method::GET, ["api", "approvals"]) => {
            let only_pending = query_value(parts.uri.query(), "pending") == Some("1");
            api::list(&site.desk, only_pending).await
        }
        (&Method::GET, ["api", "approvals", id]) if api::valid_id(id) => {
            api::show(&site.desk, (*id).to_owned()).await
        }
        (&Method::POST, ["api", "approvals", id, action]) if api::valid_id(id) => {
            let verdict = match *action {
                "approve" => Verdict::Approve,
                "deny" => Verdict::Deny,
                _ => return Ok(not_found()),
            };
            api::decide(&site.desk, (*id).to_owned(), verdict, body).await
        }
        (&Method::GET, ["api", "events"]) => {
            let stream = events::stream(site.desk.subscribe());
            response::with_body(
                StatusCode::OK,
                response::EVENT_STREAM,
                stream.boxed_unsync(),
            )
        }
        (_, ["api", "approvals", id, ..]) if !api::valid_id(id) => not_found(),
        (_, ["" | "app.js" | "app.css"] | ["api", "approvals" | "events", ..]) => error_json(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed here",
        ),
        _ => not_found(),
    })
}

fn not_found() -> Response<WebBody> {
    error_json(StatusCode::NOT_FOUND, "not_found", "no such page")
}

/// API clients get JSON, browsers a short page saying what to do.
fn refused(refusal: Refusal, path: &str) -> Response<WebBody> {
    let api = path.starts_with("/api/");
    let (status, code, message) = match refusal {
        Refusal::WrongHost => (
            StatusCode::FORBIDDEN,
            "wrong_host",
            "this page answers only to http://127.0.0.1:PORT/ or http://localhost:PORT/",
        ),
        Refusal::NoSession => (StatusCode::UNAUTHORIZED, "unauthorized", HOW_TO_OPEN),
        Refusal::CrossSite => (
            StatusCode::FORBIDDEN,
            "cross_site",
            "a decision must come from the page itself (X-Gateway-Csrf header, same Origin)",
        ),
    };
    if api {
        error_json(status, code, message)
    } else {
        let title = if status == StatusCode::UNAUTHORIZED {
            "Gateway approvals: access link needed"
        } else {
            "Gateway approvals: refused"
        };
        error_page(status, title, message)
    }
}

/// The raw value of `name` in a query string (tokens and flags here need
/// no percent-decoding).
fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}
