//! A browser without JavaScript for the dashboard's end-to-end tests: cookies by hand, forms,
//! CSRF tokens, multipart uploads, and logging in with a one-time link.

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};

use crate::server::Serve;

#[derive(Debug)]
pub struct Browser {
    pub http: Client,
    pub base: String,
    pub cookie: Option<String>,
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: String,
    pub set_cookie: String,
    pub csp: String,
    pub body: String,
}

impl Browser {
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header(COOKIE, c),
            None => req,
        };
        let res = req.send().await.expect("request");
        let header = |name| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let (status, location, set_cookie, csp) =
            (res.status(), header(LOCATION), header(SET_COOKIE), header(CONTENT_SECURITY_POLICY));
        Page { status, location, set_cookie, csp, body: res.text().await.unwrap_or_default() }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form)).await
    }
}

/// The value of the first hidden `csrf` input on a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().expect("value").to_owned()
}

/// A multipart form as a browser sends it: text fields, then the file.
pub fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "dashboardboundary42";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dist.zip\"\r\n\
             Content-Type: application/zip\r\n\r\n"
        )
        .bytes(),
    );
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn log_in(serve: &Serve, http: &Client, user: i64) -> Browser {
    let out = serve.cli(&["admin", "login-link", "--user-id", &user.to_string()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let code = String::from_utf8_lossy(&out.stdout).trim().rsplit('/').next().expect("code").to_owned();
    let browser = Browser { http: http.clone(), base: serve.api.clone(), cookie: None };
    let done = browser.post(&format!("/login/{code}"), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    Browser { cookie: Some(done.set_cookie.split(';').next().expect("pair").to_owned()), ..browser }
}
