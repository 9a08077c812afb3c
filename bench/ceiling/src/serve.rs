//! The accept loop: one task per connection, HTTP/1.1 keep-alive, every
//! answer from memory.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::routes::Routes;

/// Serves `routes` on `listener` until the process is stopped.
pub async fn serve(listener: TcpListener, routes: Routes) -> std::io::Result<()> {
    let routes = Arc::new(routes);
    loop {
        let (stream, _) = listener.accept().await?;
        // Small answers must leave at once, as the app's do.
        stream.set_nodelay(true)?;
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&routes), request));
            // A client that goes away mid-request is no concern of a ceiling.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The recorded reply for the request, after reading its whole body (a
/// POST's round trip includes sending it); 404 when none was recorded.
async fn answer(
    routes: Arc<Routes>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    if body.collect().await.is_err() {
        return Ok(bare(StatusCode::BAD_REQUEST));
    }
    let Some(reply) = routes.find(&parts.method, parts.uri.path()) else {
        return Ok(bare(StatusCode::NOT_FOUND));
    };
    let mut response = Response::new(Full::new(reply.body.clone()));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    for (name, value) in &reply.headers {
        headers.append(name.clone(), value.clone());
    }
    Ok(response)
}

fn bare(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
