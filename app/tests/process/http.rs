//! A minimal HTTP/1.1 client over `std::net`, so the tests control exactly
//! what goes on the wire and when: keep-alive, a body sent in pieces,
//! `Expect: 100-continue`, and whether the server closed the connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as JSON, which must come with `status` (else the test
    /// fails showing the body).
    #[track_caller]
    pub fn expect(self, status: u16) -> serde_json::Value {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "unexpected answer: {body}");
        self.json()
    }
}

/// Registers the user `email` through `conn`, logs in and returns the
/// bearer token.
pub fn register_and_login(conn: &mut Connection, email: &str) -> String {
    let password = "correct horse battery staple";
    let account = serde_json::json!({"email": email, "name": email, "password": password});
    conn.request("POST", "/api/auth/register", None, Some(&account))
        .expect(201);
    let login = serde_json::json!({"email": email, "password": password});
    let session = conn
        .request("POST", "/api/auth/login", None, Some(&login))
        .expect(200);
    session["data"]["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// One keep-alive connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects, with a read timeout so a test never hangs on a socket.
    pub fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// The socket itself, for a test that writes from another thread or
    /// reads what the reader has not buffered.
    pub fn stream(&self) -> TcpStream {
        self.reader.get_ref().try_clone().expect("clone the socket")
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Sends one request (JSON body when given) and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Response {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        self.send(format!("{head}{body}").as_bytes());
        self.read_response()
    }

    /// Reads one response (status line, headers, then a body framed by
    /// Content-Length or chunked encoding).
    pub fn read_response(&mut self) -> Response {
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 100 || status == 204 || status == 304 {
            return response;
        }
        if response.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(self.line().trim(), 16).expect("chunk size");
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).expect("chunk");
                if size == 0 {
                    break;
                }
                response.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            let len = response
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            response.body = vec![0; len];
            self.reader.read_exact(&mut response.body).expect("body");
        }
        response
    }

    /// Whether the server closed the connection: EOF (or a reset) within
    /// `timeout`, rather than data or silence.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line");
        assert!(!line.is_empty(), "the server closed the connection");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }
}
