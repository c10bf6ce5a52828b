//! Sending a request as one caller and classifying what came back.

use super::*;

/// What a row without a request gets (a new row needs one).
pub(super) fn unbuilt(builder: &str) -> Got {
    Got {
        outcome: Status(0),
        detail: format!("{builder} has no request for this row: add one"),
    }
}
pub(super) fn short(text: &str) -> String {
    let text = text.trim().replace('\n', " ");
    match text.char_indices().nth(140) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}
pub(super) async fn send_api(fx: &Fx<'_>, who: Who, r: Req) -> Got {
    let creds = &fx.callers[&who];
    let fresh = match who.account() {
        Some((name, _)) if r.fresh => fx
            .server
            .anon
            .login(name, &creds.password)
            .await
            .ok()
            .map(|(_, login)| login.token),
        _ => None,
    };
    let token = if r.spare {
        &creds.spare_token
    } else if fresh.is_some() {
        &fresh
    } else {
        &creds.token
    };
    let client = match token {
        Some(t) => fx.server.anon.with_token(t),
        None => fx.server.anon.clone(),
    };
    let mut builder = client.request(r.method, &r.path);
    builder = match r.body {
        Body::Empty => builder,
        Body::Json(v) => builder.json(&v),
        Body::Bytes(b) => builder
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(b),
    };
    let resp = match builder.send().await {
        Ok(resp) => resp,
        Err(e) => {
            return Got {
                outcome: Status(0),
                detail: format!("no answer: {e}"),
            };
        }
    };
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let outcome = match status.as_u16() {
        200..=299 => Allowed,
        401 => Unauthenticated,
        403 => Forbidden,
        other => Status(other),
    };
    Got {
        outcome,
        detail: format!("{status}: {}", short(&body)),
    }
}
pub(super) async fn send_ui(fx: &Fx<'_>, http: &reqwest::Client, who: Who, r: UiReq) -> Got {
    let creds = &fx.callers[&who];
    let (cookie, csrf) = if r.spare {
        (&creds.spare_cookie, &creds.spare_csrf)
    } else {
        (&creds.cookie, &creds.csrf)
    };
    let mut builder = http
        .post(fx.server.url(&r.path))
        .header(header::ORIGIN, fx.server.url(""));
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    builder = match r.body {
        UiBody::Form(mut fields) => {
            fields.push(("_csrf", csrf.clone()));
            builder.form(&fields)
        }
        UiBody::Multipart(mut fields) => {
            fields.push(("_csrf", csrf.clone()));
            let boundary = "authz-matrix-boundary";
            let mut body = String::new();
            for (name, value) in &fields {
                body.push_str(&format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                ));
            }
            body.push_str(&format!("--{boundary}--\r\n"));
            builder
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
        }
        UiBody::Upload(bytes) => {
            let boundary = "authz-matrix-boundary";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sample.bin\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(&bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            builder
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
        }
    };
    match builder.send().await {
        Ok(resp) => classify_page(resp).await,
        Err(e) => Got {
            outcome: Status(0),
            detail: format!("no answer: {e}"),
        },
    }
}
/// A UI answer as an [`Outcome`]: redirects by their flash message (or to the login
/// page), pages by their status.
pub(super) async fn classify_page(resp: reqwest::Response) -> Got {
    let status = resp.status();
    let cookies: Vec<String> = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.text().await.unwrap_or_default();
    let flash = cookies
        .iter()
        .filter_map(|c| c.strip_prefix("aerie_flash="))
        .filter_map(|c| c.split(';').next())
        .find_map(|v| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v)
                .ok()?;
            serde_json::from_slice::<Flash>(&bytes).ok()
        });
    let logged_out = cookies.iter().any(|c| c.starts_with("aerie_session=;"));
    let about_permission = |t: &str| t.contains("needs the") && t.contains("permission");
    let page_error = body
        .split("<p class=\"error\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or(body.as_str())
        .to_owned();
    let (outcome, detail) = if status.is_redirection() {
        match flash {
            Some(f) if f.ok => (Allowed, f.text),
            Some(f) if about_permission(&f.text) => (Forbidden, f.text),
            Some(f) => (Failed, f.text),
            None if location == "/login" && !logged_out => {
                (Unauthenticated, "to the login page".to_owned())
            }
            None => (Allowed, format!("to {location}")),
        }
    } else if status.is_success() {
        (Allowed, String::new())
    } else if status.as_u16() == 403 && about_permission(&page_error) {
        (Forbidden, page_error)
    } else if status.as_u16() == 403 {
        (Failed, page_error)
    } else if status.as_u16() == 401 {
        (Unauthenticated, page_error)
    } else {
        (Status(status.as_u16()), page_error)
    };
    Got {
        outcome,
        detail: format!("{status}: {}", short(&detail)),
    }
}
// ---------------------------------------------------------------------------------------
// Setting up.

/// An HTTPS client for the UI that does not follow redirects (the test's certificates
/// are self-signed; loopback only).
pub(super) fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}
/// Logs in through the form; returns the session cookie and a CSRF token of its pages.
pub(super) async fn form_login(
    s: &TestServer,
    http: &reqwest::Client,
    user: &str,
    password: &str,
) -> (String, String) {
    let resp = http
        .post(s.url("/login"))
        .header(header::ORIGIN, s.url(""))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aerie_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("form login of {user}: no session cookie"));
    let page = http
        .get(s.url("/config/password"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned();
    (cookie, csrf)
}
pub(super) async fn call(
    c: &aerie_client::Client,
    method: Method,
    path: &str,
    body: Value,
) -> Value {
    c.send(c.request(method.clone(), path).json(&body))
        .await
        .unwrap_or_else(|e| panic!("setup: {method} {path}: {e}"))
}
