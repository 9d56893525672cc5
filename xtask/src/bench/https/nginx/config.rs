//! The nginx.conf of `bench https`: one TLS 1.3 server for
//! [`SERVER_NAME`] on 127.0.0.1 proxying every request to the upstream
//! over HTTPS (verified with the bench CA, a pool of kept-alive upstream
//! connections, bodies streamed in reads of one TLS record), no access
//! log, errors at `warn`, and every file it writes inside its scratch
//! directory.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use super::super::bench_ca::{BenchCaFiles, SERVER_NAME};

/// Idle upstream connections each worker keeps for reuse.
const UPSTREAM_KEEPALIVE: u32 = 64;
/// Connections per worker (each proxied request holds two: client and
/// upstream), well above the 1,000 idle connections of the memory phase.
const WORKER_CONNECTIONS: u32 = 4096;
/// Unbuffered (`proxy_buffering off`), nginx reads at most
/// `proxy_buffer_size` of a body at a time, by default one page: a large
/// download would then measure 4 KiB TLS records, not nginx (about 620
/// instead of 880 MiB/s here). 16 KiB is the largest TLS record; 64 KiB
/// gained little more. `proxy_buffers` grows with it: nginx refuses
/// buffers that hold less than three reads.
const READ_BUFFER: &str = "16k";

/// What goes into the config.
pub struct NginxSettings<'a> {
    /// Where nginx keeps its pid, logs and temporary files.
    pub dir: &'a Path,
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    /// Its server certificate (the upstream's: a chain for
    /// [`SERVER_NAME`] from the bench CA) and the CA it verifies the
    /// upstream with.
    pub tls: &'a BenchCaFiles,
    /// Temporary-file directives of the HTTP modules this build has
    /// besides `client_body` and `proxy` (e.g. `fastcgi`).
    pub other_temp_modules: &'a [&'a str],
    /// Open files each worker may have (its limit is raised to this).
    pub open_files: u64,
}

pub fn text(settings: &NginxSettings<'_>) -> String {
    let dir = settings.dir.display();
    let mut temp_paths = String::new();
    for module in ["client_body", "proxy"]
        .iter()
        .chain(settings.other_temp_modules)
    {
        let _ = writeln!(temp_paths, "    {module}_temp_path {dir}/{module}_temp;");
    }
    format!(
        "# Written by `cargo xtask bench https`; removed when it ends.\n\
         # One worker per CPU, as the gateway has by default.\n\
         worker_processes auto;\n\
         worker_rlimit_nofile {open_files};\n\
         daemon off;\n\
         error_log {dir}/error.log warn;\n\
         pid {dir}/nginx.pid;\n\
         events {{ worker_connections {WORKER_CONNECTIONS}; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         {temp_paths}\
         \x20   upstream bench_upstream {{\n\
         \x20       server {upstream};\n\
         \x20       keepalive {UPSTREAM_KEEPALIVE};\n\
         \x20   }}\n\
         \x20   server {{\n\
         \x20       listen {listen} ssl;\n\
         \x20       server_name {SERVER_NAME};\n\
         \x20       ssl_certificate {cert};\n\
         \x20       ssl_certificate_key {key};\n\
         \x20       ssl_protocols TLSv1.3;\n\
         \x20       keepalive_requests 1000000;\n\
         \x20       location / {{\n\
         \x20           proxy_pass https://bench_upstream;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n\
         \x20           proxy_set_header Host {SERVER_NAME};\n\
         \x20           proxy_ssl_server_name on;\n\
         \x20           proxy_ssl_name {SERVER_NAME};\n\
         \x20           proxy_ssl_verify on;\n\
         \x20           proxy_ssl_trusted_certificate {ca};\n\
         \x20           proxy_ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20           proxy_ssl_session_reuse on;\n\
         \x20           proxy_buffering off;\n\
         \x20           proxy_buffer_size {READ_BUFFER};\n\
         \x20           proxy_buffers 8 {READ_BUFFER};\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n",
        open_files = settings.open_files,
        upstream = settings.upstream,
        listen = settings.listen,
        cert = settings.tls.server_chain.display(),
        key = settings.tls.server_key.display(),
        ca = settings.tls.ca.display(),
    )
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn proxies_to_the_upstream_and_writes_only_into_its_directory() {
        let tls = BenchCaFiles {
            ca: PathBuf::from("/s/bench-ca.pem"),
            server_chain: PathBuf::from("/s/upstream-chain.pem"),
            server_key: PathBuf::from("/s/upstream-key.pem"),
        };
        let text = text(&NginxSettings {
            dir: Path::new("/s/nginx"),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 4443)),
            upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, 5443)),
            tls: &tls,
            other_temp_modules: &["fastcgi"],
            open_files: 20_000,
        });
        for line in [
            "    listen 127.0.0.1:4443 ssl;",
            "    server 127.0.0.1:5443;",
            "    proxy_ssl_trusted_certificate /s/bench-ca.pem;",
            "    ssl_certificate /s/upstream-chain.pem;",
            "    fastcgi_temp_path /s/nginx/fastcgi_temp;",
            "    proxy_temp_path /s/nginx/proxy_temp;",
            "error_log /s/nginx/error.log warn;",
            "    access_log off;",
            "worker_rlimit_nofile 20000;",
            "        proxy_buffer_size 16k;",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        assert!(!text.contains("uwsgi"));
        let opened = text.matches('{').count();
        assert_eq!(opened, text.matches('}').count(), "{text}");
    }
}
