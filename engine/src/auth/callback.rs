//! The loopback listener that receives the OAuth callback. `sam connect` binds the host and
//! port of the redirect URI (a loopback URL such as `http://127.0.0.1:8976/callback`) before
//! printing the authorize URL, so a taken port is reported before the admin consents. The
//! listener serves the redirect path only (axum), answers the browser with a short page, and
//! hands the first callback's parameters back; it stops after that or at the timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use tokio::sync::{Mutex, oneshot};

use super::oauth::{AuthError, CallbackParams};

/// Whether `redirect_uri` is an `http` URL on a loopback host, which `sam connect` can serve.
pub fn is_loopback_redirect(redirect_uri: &str) -> bool {
    url::Url::parse(redirect_uri)
        .ok()
        .filter(|u| u.scheme() == "http")
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// Whether `host` names this machine's loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// A bound callback listener.
#[derive(Debug)]
pub struct CallbackListener {
    listener: tokio::net::TcpListener,
    path: String,
    addr: SocketAddr,
}

impl CallbackListener {
    /// Binds the host and port of `redirect_uri` (which must be a loopback `http` URL).
    pub async fn bind(redirect_uri: &str) -> Result<Self, AuthError> {
        let url = url::Url::parse(redirect_uri).map_err(|_| AuthError::InvalidUrl {
            what: "redirect URI",
            url: redirect_uri.to_string(),
        })?;
        let host = url.host_str().unwrap_or_default().to_string();
        if url.scheme() != "http" || !is_loopback_host(&host) {
            return Err(AuthError::Listen {
                addr: redirect_uri.to_string(),
                message: "only an http URL on 127.0.0.1, [::1] or localhost can be served here; use --no-listen and paste the redirected URL".into(),
            });
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let ip = if host.eq_ignore_ascii_case("localhost") {
            "127.0.0.1".to_string()
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        };
        let addr_text = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let listener = tokio::net::TcpListener::bind(&addr_text)
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    AuthError::PortInUse {
                        addr: addr_text.clone(),
                    }
                } else {
                    AuthError::Listen {
                        addr: addr_text.clone(),
                        message: e.to_string(),
                    }
                }
            })?;
        let addr = listener.local_addr().map_err(|e| AuthError::Listen {
            addr: addr_text.clone(),
            message: e.to_string(),
        })?;
        let path = if url.path().is_empty() {
            "/".to_string()
        } else {
            url.path().to_string()
        };
        Ok(Self {
            listener,
            path,
            addr,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the first callback (or `timeout`) and returns its parameters.
    pub async fn wait(self, timeout: Duration) -> Result<CallbackParams, AuthError> {
        type Slot = Arc<Mutex<Option<oneshot::Sender<CallbackParams>>>>;
        let (tx, rx) = oneshot::channel::<CallbackParams>();
        let slot: Slot = Arc::new(Mutex::new(Some(tx)));
        async fn handle(State(slot): State<Slot>, RawQuery(query): RawQuery) -> Html<String> {
            let params = CallbackParams::from_query(query.as_deref().unwrap_or(""));
            let page = if params.error.is_some() {
                "<h1>sam: consent was not given</h1><p>Return to the terminal.</p>"
            } else {
                "<h1>sam received the authorization</h1><p>You can close this tab and return to the terminal.</p>"
            };
            if let Some(tx) = slot.lock().await.take() {
                let _ = tx.send(params);
            }
            Html(format!(
                "<!DOCTYPE html><html><head><title>sam</title></head><body>{page}</body></html>"
            ))
        }
        let app = axum::Router::new()
            .route(&self.path, get(handle))
            .with_state(slot);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(self.listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let outcome = tokio::time::timeout(timeout, rx).await;
        let _ = stop_tx.send(());
        // Let the browser get its page; never wait long for a client holding a connection.
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        match outcome {
            Ok(Ok(params)) => Ok(params),
            Ok(Err(_)) => Err(AuthError::Listen {
                addr: self.addr.to_string(),
                message: "the listener stopped".into(),
            }),
            Err(_) => Err(AuthError::CallbackTimeout(timeout.as_secs())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_are_recognized() {
        assert!(is_loopback_redirect("http://127.0.0.1:8976/callback"));
        assert!(is_loopback_redirect("http://localhost:1/cb"));
        assert!(is_loopback_redirect("http://[::1]:1/cb"));
        assert!(!is_loopback_redirect("https://127.0.0.1:1/cb"));
        assert!(!is_loopback_redirect("http://example.com/cb"));
    }

    #[tokio::test]
    async fn a_taken_port_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = CallbackListener::bind(&format!("http://127.0.0.1:{port}/callback"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::PortInUse { .. }), "{err}");
        assert!(err.to_string().contains("already in use"));
    }
}
