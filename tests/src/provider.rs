//! A provider that takes a request and hangs up without answering: the
//! request reached it, but the sender never learns what became of it. The
//! case where a repeated request would send a message twice.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct HangingUpProvider {
    pub endpoint: String,
    received: Arc<Mutex<Vec<String>>>,
}

impl HangingUpProvider {
    /// Hangs up on every request.
    pub async fn start() -> Self {
        Self::answering(&[]).await
    }

    /// Answers a request for one of `answers`' paths with `200` and its JSON
    /// body; hangs up on any other.
    pub async fn answering(answers: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers: Arc<Vec<(String, String)>> =
            Arc::new(answers.iter().map(|(path, body)| (path.to_string(), body.to_string())).collect());
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, answers.clone(), log.clone()));
            }
        });
        Self { endpoint, received }
    }

    /// The requests received, as method and path (`POST /v2/faxes`), in order.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("request log").clone()
    }
}

/// One connection: each whole request is logged, then answered or hung up on.
async fn serve(mut stream: TcpStream, answers: Arc<Vec<(String, String)>>, log: Arc<Mutex<Vec<String>>>) {
    while let Some(request_line) = read_request(&mut stream).await {
        // `POST /v2/faxes HTTP/1.1`: the method and path, without the version.
        let request = request_line.rsplit_once(' ').map_or(request_line.as_str(), |(request, _)| request);
        log.lock().expect("request log").push(request.to_owned());
        let path = request.split_once(' ').map_or("", |(_, path)| path);
        let Some((_, body)) = answers.iter().find(|(answered, _)| answered == path) else {
            return; // dropping the stream closes the connection unanswered
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one request to the end of its body (read whole, so that closing
/// the connection is a clean hang-up rather than a reset); its request line.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return head.lines().next().map(str::to_owned);
            }
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..read]);
    }
}
