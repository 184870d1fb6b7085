//! The HTTP listener: `GET /metrics`, `/healthz`, `/readyz` over HTTP/1.1 (hyper), plain or
//! TLS, with an optional bearer token on `/metrics`. The health endpoints answer without the
//! token (a load balancer's probe carries none) and say no more than "ok" or why not.

use super::{Families, MetricsSetup};
use crate::stats::StatsSources;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// OpenMetrics text, as `prometheus-client` writes it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `/healthz` waits for the engine to answer before calling it unhealthy.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(2);

/// A running metrics listener.
pub struct MetricsServer {
    pub addr: SocketAddr,
    pub tls: bool,
}

struct App {
    families: Arc<Families>,
    sources: StatsSources,
    /// SHA-256 of the bearer token, when one is required.
    token: Option<ring::digest::Digest>,
    stop: CancellationToken,
}

/// Binds `setup.addr` and serves until `stop`.
pub async fn serve(
    setup: MetricsSetup,
    sources: StatsSources,
    stop: CancellationToken,
) -> std::io::Result<MetricsServer> {
    let listener = TcpListener::bind(setup.addr).await?;
    let addr = listener.local_addr()?;
    let app = Arc::new(App {
        families: Arc::new(Families {
            sources: sources.clone(),
            top_destinations: setup.top_destinations,
        }),
        sources,
        token: setup.token.as_deref().map(digest),
        stop: stop.clone(),
    });
    let acceptor = setup.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let tls = acceptor.is_some();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("metrics: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (app, acceptor, stop) = (app.clone(), acceptor.clone(), stop.clone());
            tokio::spawn(async move {
                let served = match acceptor {
                    None => connection(stream, app, &stop).await,
                    Some(a) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, a.accept(stream)).await {
                            Ok(Ok(tls)) => connection(tls, app, &stop).await,
                            Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
                            Err(_) => Err("TLS handshake timed out".to_string()),
                        }
                    }
                };
                if let Err(e) = served {
                    tracing::debug!(%peer, "metrics: {e}");
                }
            });
        }
    });
    Ok(MetricsServer { addr, tls })
}

async fn connection<S>(stream: S, app: Arc<App>, stop: &CancellationToken) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(&app, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        r = conn => r.map_err(|e| e.to_string()),
        _ = stop.cancelled() => Ok(()),
    }
}

fn digest(s: &str) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    reply(status, "text/plain; charset=utf-8", body.into())
}

/// Whether `req` carries the token (by digest: the comparison takes the same time however
/// much of a wrong token matches).
fn authorized(app: &App, req: &Request<Incoming>) -> bool {
    let Some(want) = &app.token else { return true };
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| digest(t.trim()));
    given.is_some_and(|g| g.as_ref() == want.as_ref())
}

async fn answer(app: &Arc<App>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    match req.uri().path() {
        "/metrics" if !authorized(app, &req) => {
            let mut r = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer realm=\"shoal\""),
            );
            r
        }
        "/metrics" => {
            let families = app.families.clone();
            match tokio::task::spawn_blocking(move || families.render()).await {
                Ok(body) => reply(StatusCode::OK, OPENMETRICS, body),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            }
        }
        "/healthz" => healthz(app).await,
        "/readyz" => readyz(app),
        _ => text(StatusCode::NOT_FOUND, "try /metrics, /healthz or /readyz\n"),
    }
}

/// Alive: the engine answers within [`ENGINE_TIMEOUT`] (its lock is not stuck).
async fn healthz(app: &App) -> Response<Full<Bytes>> {
    let handle = app.sources.handle.clone();
    let probe = tokio::task::spawn_blocking(move || handle.overview(0).connection_count);
    match tokio::time::timeout(ENGINE_TIMEOUT, probe).await {
        Ok(Ok(_)) => text(StatusCode::OK, "ok\n"),
        _ => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine does not answer\n",
        ),
    }
}

/// Ready: listening (this endpoint starts after the listeners are bound), not shutting
/// down, and the message store writing.
fn readyz(app: &App) -> Response<Full<Bytes>> {
    if app.stop.is_cancelled() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    let failing = app.sources.handle.store().and_then(|s| s.usage().error);
    match failing {
        Some(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("message store failing: {e}\n"),
        ),
        None => text(StatusCode::OK, "ready\n"),
    }
}
