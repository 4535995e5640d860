//! Headless Chromium for the public pages' browser tests: Debian's
//! `chromium`, driven through its `chromedriver` (`infra/test.sh` installs
//! both when missing), with JavaScript off, on a phone-sized window.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// A phone's viewport, in CSS pixels.
pub const PHONE_WIDTH: u32 = 390;
pub const PHONE_HEIGHT: u32 = 844;

/// chromedriver on a free loopback port and a browser session on it, both
/// stopped when dropped (close the session first).
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    pub client: Client,
}

impl Browser {
    /// A phone-sized Chromium with scripts off: the pages must work so.
    pub async fn phone() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "Debian's chromium and chromium-driver are needed: infra/test.sh installs them"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Owned at once, so that it is stopped (and reaped) however this ends.
        let mut driver = Driver(Some(child));
        let url = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok_and(|r| r.status().is_success()) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not answer on {url}");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", PHONE_WIDTH, PHONE_HEIGHT),
                ],
                "prefs": {"profile.managed_default_content_settings.javascript": 2},
                "mobileEmulation": {"deviceMetrics": {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 3.0}},
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        let child = driver.0.take().expect("the driver just started");
        Self { child, _profile: profile, client }
    }

    /// Whether the element `css` lies within the phone's width: nothing to
    /// scroll sideways for.
    pub async fn fits(&self, css: &str) -> bool {
        let element = self.client.find(fantoccini::Locator::Css(css)).await.unwrap();
        let (x, _, width, _) = element.rectangle().await.unwrap();
        x >= 0.0 && x + width <= f64::from(PHONE_WIDTH)
    }
}

/// Stops chromedriver if the session never started.
struct Driver(Option<Child>);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
