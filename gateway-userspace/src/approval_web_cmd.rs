//! `gateway approvals web-url`, and the hidden `gateway approvals-web-demo`
//! the browser test drives.

use std::{
    io::{BufRead as _, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::Context as _;

use crate::{
    approval_web::{self, TOKEN_FILE, memory_desk::MemoryDesk, token::WebToken},
    approvals::desk::{ApprovalDesk, ApprovalView},
    config::{Config, DEFAULT_STATE_DIR, DEFAULT_WEB_PORT},
};

/// `gateway approvals web-url`.
pub fn web_url(
    config: Option<&Path>,
    state_dir: Option<PathBuf>,
    port: Option<u16>,
) -> anyhow::Result<ExitCode> {
    let (state_dir, port) = if let Some(path) = config {
        let config = Config::load(path)?;
        let port = config.approvals.web_port.with_context(|| {
            format!(
                "the approvals web page is off in {} ([approvals] web_port = 0)",
                path.display()
            )
        })?;
        (config.state_dir, port)
    } else {
        (
            state_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            port.unwrap_or(DEFAULT_WEB_PORT),
        )
    };
    let token_path = state_dir.join(TOKEN_FILE);
    let token = WebToken::load(&token_path).with_context(|| {
        format!(
            "the gateway makes {} when it starts the web page; is it running with this state_dir?",
            token_path.display()
        )
    })?;
    println!("{}", approval_web::web_url(port, &token));
    Ok(ExitCode::SUCCESS)
}

/// Serves the page over a [`MemoryDesk`]: standard input adds approvals
/// (one JSON [`ApprovalView`] a line), standard output shows
/// `{"event":"listening","addr":…}` and then every desk event. Ends when
/// standard input does.
pub fn demo(state_dir: &Path, port: u16) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let desk = Arc::new(MemoryDesk::default());
        let mut events = desk.subscribe();
        let web = approval_web::serve(
            Arc::clone(&desk) as Arc<dyn ApprovalDesk>,
            port,
            &state_dir.join(TOKEN_FILE),
        )?;
        print_line(&serde_json::json!({"event": "listening", "addr": web.addr.to_string()}));
        let (lines, mut input) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if lines.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            tokio::select! {
                line = input.recv() => {
                    let Some(line) = line else { break };
                    match serde_json::from_str::<ApprovalView>(&line) {
                        Ok(approval) => desk.add(approval),
                        Err(error) => eprintln!("approvals-web-demo: not an approval: {error}"),
                    }
                }
                Ok(event) = events.recv() => print_line(&event),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_line<T: serde::Serialize>(value: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, value);
    let _ = writeln!(out);
    let _ = out.flush();
}
