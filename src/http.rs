//! The health and metrics endpoint (`http.listen`): `/healthz`, `/readyz`,
//! `/metrics`. Three read-only GETs for a monitoring system on a trusted
//! network do not need a web framework; this is a deliberately small HTTP/1.1
//! responder that reads one request head (at most 8 KiB, within 5 s), answers,
//! and closes the connection. Anything else gets 404 or 405.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::Runtime;
use crate::store::Store;

const MAX_HEAD: usize = 8 * 1024;
const READ_LIMIT: Duration = Duration::from_secs(5);

/// What the endpoint needs.
#[derive(Clone)]
pub struct Endpoint {
    pub store: Store,
    pub rt: Arc<Runtime>,
    pub metrics: PrometheusHandle,
}

/// Binds `addr` (so a bad address fails at start, not later) and serves until `stop`.
pub async fn serve(
    addr: std::net::SocketAddr,
    ep: Endpoint,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("http.listen: cannot listen on {addr}"))?;
    info!(%addr, "serving /healthz, /readyz and /metrics");
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((sock, _)) => {
                        let ep = ep.clone();
                        tokio::spawn(async move {
                            if let Err(e) = handle(sock, &ep).await {
                                debug!(error = format!("{e:#}"), "http request failed");
                            }
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = crate::stop::requested(&mut stop) => break,
            }
            if crate::stop::is_requested(&stop) {
                break;
            }
        }
    }))
}

/// The request line's method and path, once the whole head has arrived (pure).
pub fn parse_head(buf: &[u8]) -> Option<(String, String)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    Some((method, path))
}

async fn handle(mut sock: TcpStream, ep: &Endpoint) -> Result<()> {
    let mut buf = Vec::with_capacity(512);
    let req = tokio::time::timeout(READ_LIMIT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(r) = parse_head(&buf) {
                return Ok(Some(r));
            }
            if buf.len() >= MAX_HEAD {
                return Ok(None);
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("request head not received within 5 s"))?
    .map_err(|e: std::io::Error| anyhow::anyhow!(e))?;
    let (status, ctype, body) = match req {
        None => (400, "text/plain", "bad request\n".to_string()),
        Some((m, _)) if m != "GET" && m != "HEAD" => {
            (405, "text/plain", "only GET and HEAD\n".to_string())
        }
        Some((m, path)) => {
            let (s, c, b) = route(&path, ep).await;
            (s, c, if m == "HEAD" { String::new() } else { b })
        }
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.shutdown().await?;
    Ok(())
}

async fn route(path: &str, ep: &Endpoint) -> (u16, &'static str, String) {
    match path {
        "/healthz" => (200, "text/plain", "ok\n".into()),
        "/readyz" => {
            let r = crate::health::readiness(&ep.store, &ep.rt, Utc::now()).await;
            if r.ready {
                (200, "text/plain", "ready\n".into())
            } else {
                (
                    503,
                    "text/plain",
                    format!("not ready\n{}\n", r.problems.join("\n")),
                )
            }
        }
        "/metrics" => {
            if let Err(e) = refresh_db_gauges(&ep.store, &ep.rt).await {
                warn!(
                    error = format!("{e:#}"),
                    "cannot read gauges from the database"
                );
            }
            (200, "text/plain; version=0.0.4", ep.metrics.render())
        }
        _ => (404, "text/plain", "not found\n".into()),
    }
}

/// Reads the gauges that describe the shared database (the folders: those this
/// configuration watches, whichever instance syncs them).
async fn refresh_db_gauges(store: &Store, rt: &Runtime) -> Result<()> {
    let watched = crate::health::watched(rt);
    let now = Utc::now();
    let (depth, oldest) = store.outbox_backlog().await?;
    let folders = store.folder_states().await?;
    let open = crate::alerts::open(store).await?.len() as i64;
    crate::metrics::set_db_gauges(&crate::metrics::DbGauges {
        outbox_depth: depth,
        outbox_oldest_age_secs: oldest
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
        alerts_open: open,
        last_sync: folders
            .iter()
            .filter(|f| {
                watched
                    .iter()
                    .any(|w| w.account == f.account && w.folder == f.folder)
            })
            .filter_map(|f| {
                f.last_sync_at
                    .map(|ms| (f.folder.clone(), ms as f64 / 1000.0))
            })
            .collect(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_head;

    #[test]
    fn request_heads() {
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET".into(), "/metrics".into()))
        );
        assert_eq!(
            parse_head(b"GET /readyz?verbose=1 HTTP/1.0\r\n\r\n"),
            Some(("GET".into(), "/readyz".into()))
        );
        // Not complete yet.
        assert_eq!(parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(parse_head(b"\xff\xfe\r\n\r\n"), None);
    }
}
