//! A real `ktrdr serve` for the API's tests: started on a free port (`--bind 127.0.0.1:0`, the
//! address read back from what it prints), with its log in a file that is shown when the test
//! fails, killed when dropped; and a real HTTP client.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use ktrdr_testkit::wait_for;
use serde_json::Value;

pub struct ApiServer {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub client: reqwest::Client,
}

impl ApiServer {
    /// `ktrdr serve` on `database_url` with extra environment `env`, once it listens.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "ktrdr-serve-{}-{:x}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("DATABASE_URL", database_url)
            .env_remove("KTRDR_API_TOKEN")
            .env_remove("KTRDR_API_BIND")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the ktrdr binary runs");
        let mut server = Self {
            child,
            log,
            base: String::new(),
            client: reqwest::Client::new(),
        };
        let log = server.log.clone();
        server.base = wait_for("ktrdr serve to listen", Duration::from_secs(60), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move {
                let rest = text.split("listening on ").nth(1)?;
                Some(rest.split_whitespace().next()?.to_string())
            }
        })
        .await;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        answer(
            self.client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        answer(self.client.delete(self.url(path)).send().await.unwrap()).await
    }

    /// Sends SIGTERM and waits, at most `limit`, for the server to exit.
    pub async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let child = &mut self.child;
        wait_for("ktrdr serve to exit", limit, || {
            let status = child.try_wait().unwrap();
            async move { status }
        })
        .await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The status and JSON body of `response`.
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"));
    (status, body)
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- ktrdr serve log ---\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// This build's `ktrdr-worker`, beside `ktrdr` (a workspace build makes both; alone:
/// `cargo build -p ktrdr-worker`).
pub fn worker_binary() -> String {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_ktrdr")).with_file_name("ktrdr-worker");
    assert!(
        path.is_file(),
        "no {} — build it first: cargo build -p ktrdr-worker",
        path.display()
    );
    path.display().to_string()
}

/// The error `code` of an error answer.
pub fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {body}"))
}
