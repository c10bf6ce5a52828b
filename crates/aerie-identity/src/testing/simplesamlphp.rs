//! A SimpleSAMLphp IdP of a test's own, and a browser without JavaScript to log in at it.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Stdio},
};

use super::write;

/// A SimpleSAMLphp IdP of a test's own (Debian's `simplesamlphp`, PHP's built-in
/// server on a loopback port; PEERS.md §1). Users: alice/alicepass (groups
/// soc-analysts) and victor/victorpass (groups soc-viewers); the NameID is the mail.
pub struct SimpleSamlPhp {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for SimpleSamlPhp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SSP_WWW: &str = "/usr/share/simplesamlphp/www";

impl SimpleSamlPhp {
    /// Starts the IdP, trusting one SP (`sp_entity_id`, its ACS at `acs_url`); `None`
    /// (with the reason printed) where SimpleSAMLphp is not installed, outside CI.
    /// Two more SP entities, with the same ACS, serve tests that must refuse their
    /// answers: `{sp_entity_id}-unsigned` gets its assertions unsigned (the response
    /// alone signed), `{sp_entity_id}-short` gets assertions valid for 2 seconds.
    pub fn start(sp_entity_id: &str, acs_url: &str) -> Option<SimpleSamlPhp> {
        if !Path::new(SSP_WWW).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("SimpleSAMLphp is required in CI: apt-get install simplesamlphp php8.2-xml");
            }
            eprintln!("skipping: SimpleSAMLphp is missing (apt-get install simplesamlphp)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for sub in ["metadata", "cert", "log", "data", "tmp", "sess"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Debian's config.php ends by requiring a root-only secrets file: left out.
        let base = std::fs::read_to_string("/etc/simplesamlphp/config.php").unwrap();
        let base = base.replace(
            "require_once('/var/lib/simplesamlphp/secrets.inc.php');",
            "",
        );
        write(&d.join("config-base.php"), &base);
        let dp = d.display();
        // Debian's default cookies are SameSite=None, which browsers drop unless Secure,
        // and this IdP is on plain HTTP: Lax keeps its session across its own login form.
        write(
            &d.join("config.php"),
            &format!(
                "<?php\ninclude __DIR__.'/config-base.php';\n$config = array_merge($config, [\n\
                 'baseurlpath' => 'http://127.0.0.1:{port}/',\n\
                 'secretsalt' => 'aerie-test-salt-0123456789',\n\
                 'auth.adminpassword' => 'aerie-test-admin',\n\
                 'enable.saml20-idp' => true,\n\
                 'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],\n\
                 'metadatadir' => '{dp}/metadata/',\n\
                 'certdir' => '{dp}/cert/',\n\
                 'loggingdir' => '{dp}/log/',\n\
                 'datadir' => '{dp}/data/',\n\
                 'tempdir' => '{dp}/tmp/',\n\
                 'logging.handler' => 'file',\n\
                 'session.cookie.secure' => false,\n\
                 'session.cookie.samesite' => 'Lax',\n\
                 'language.cookie.samesite' => 'Lax',\n\
                 'timezone' => 'UTC',\n\
                 ]);\n"
            ),
        );
        write(
            &d.join("authsources.php"),
            "<?php\n$config = [\n'admin' => ['core:AdminPassword'],\n\
             'example-userpass' => ['exampleauth:UserPass',\n\
             'alice:alicepass' => ['uid' => ['alice'], 'mail' => ['alice@example.com'], 'groups' => ['soc-analysts']],\n\
             'victor:victorpass' => ['uid' => ['victor'], 'mail' => ['victor@example.com'], 'groups' => ['soc-viewers']],\n\
             ],\n];\n",
        );
        write(
            &d.join("metadata/saml20-idp-hosted.php"),
            "<?php\n$metadata['__DYNAMIC:1__'] = [\n'host' => '__DEFAULT__',\n\
             'privatekey' => 'idp.key', 'certificate' => 'idp.crt', 'auth' => 'example-userpass',\n\
             'authproc' => [3 => ['class' => 'saml:AttributeNameID', 'attribute' => 'mail',\n\
             'Format' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress']],\n];\n",
        );
        write(
            &d.join("metadata/saml20-sp-remote.php"),
            &format!(
                "<?php\n$metadata['{sp_entity_id}'] = [\n\
                 'AssertionConsumerService' => '{acs_url}',\n\
                 'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',\n\
                 'saml20.sign.response' => true, 'saml20.sign.assertion' => true,\n];\n\
                 $metadata['{sp_entity_id}-unsigned'] = [\n\
                 'AssertionConsumerService' => '{acs_url}',\n\
                 'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',\n\
                 'saml20.sign.response' => true, 'saml20.sign.assertion' => false,\n];\n\
                 $metadata['{sp_entity_id}-short'] = [\n\
                 'AssertionConsumerService' => '{acs_url}',\n\
                 'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',\n\
                 'saml20.sign.response' => true, 'saml20.sign.assertion' => true,\n\
                 'assertion.lifetime' => 2,\n];\n"
            ),
        );
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=test-idp",
                "-keyout",
            ])
            .arg(d.join("cert/idp.key"))
            .arg("-out")
            .arg(d.join("cert/idp.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl made the IdP's certificate");
        let child = Command::new("php")
            .arg("-d")
            .arg(format!("session.save_path={dp}/sess"))
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", SSP_WWW])
            .env("SIMPLESAMLPHP_CONFIG_DIR", d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let idp = SimpleSamlPhp {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(idp);
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("SimpleSAMLphp did not start on port {port}");
    }

    /// The IdP's entity id (its metadata URL).
    pub fn entity_id(&self) -> String {
        format!("http://127.0.0.1:{}/saml2/idp/metadata.php", self.port)
    }

    /// The URL that starts an IdP-initiated login for `sp_entity_id`.
    pub fn idp_initiated_url(&self, sp_entity_id: &str) -> String {
        format!(
            "http://127.0.0.1:{}/saml2/idp/SSOService.php?spentityid={}",
            self.port,
            encode(sp_entity_id)
        )
    }

    /// Logs `user` in at the IdP, starting from `url` (an SP's redirect to the IdP, or
    /// [`idp_initiated_url`](Self::idp_initiated_url)); returns the `SAMLResponse` and
    /// `RelayState` the IdP's auto-POST form would send.
    pub async fn log_in(
        &self,
        url: String,
        user: &str,
        password: &str,
    ) -> (String, Option<String>) {
        let mut b = ScriptedBrowser::new();
        let (url, page) = b.get(url).await;
        let state = url
            .split("AuthState=")
            .nth(1)
            .map(|s| decode(s.split('&').next().unwrap()))
            .or_else(|| hidden(&page, "AuthState"))
            .unwrap_or_else(|| panic!("no login form at {url}:\n{page}"));
        let (_, page) = b
            .post(
                url.split('?').next().unwrap(),
                &[
                    ("username", user),
                    ("password", password),
                    ("AuthState", &state),
                ],
            )
            .await;
        let response =
            hidden(&page, "SAMLResponse").unwrap_or_else(|| panic!("no SAMLResponse:\n{page}"));
        (response, hidden(&page, "RelayState"))
    }

    /// The IdP's metadata XML.
    pub async fn metadata(&self) -> String {
        ScriptedBrowser::new().get(self.entity_id()).await.1
    }
}

/// A browser without JavaScript: follows redirects and keeps cookies (for any host: the
/// tests' hosts are all loopback). Trusts self-signed certificates.
pub struct ScriptedBrowser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Default for ScriptedBrowser {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedBrowser {
    pub fn new() -> Self {
        Self::at("127.0.0.1".parse().unwrap())
    }

    /// A browser whose connections come from `address` (a loopback address).
    pub fn at(address: std::net::IpAddr) -> Self {
        ScriptedBrowser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .danger_accept_invalid_certs(true)
                .local_address(address)
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some((name, rest)) = v.split_once('=') {
                self.cookies
                    .insert(name.to_owned(), rest.split(';').next().unwrap().to_owned());
            }
        }
    }

    /// The `Cookie` header this browser sends.
    pub fn cookie(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Where a redirect points, absolute.
    fn location(resp: &reqwest::Response, from: &str) -> Option<String> {
        if !resp.status().is_redirection() {
            return None;
        }
        let to = resp.headers()["location"].to_str().unwrap();
        Some(if to.starts_with("http") {
            to.to_owned()
        } else {
            format!("{}{to}", origin(from))
        })
    }

    /// GETs `url`, then any redirects; returns the last URL and body.
    pub async fn get(&mut self, mut url: String) -> (String, String) {
        for _ in 0..10 {
            let resp = self
                .http
                .get(&url)
                .header("cookie", self.cookie())
                .send()
                .await
                .unwrap();
            self.keep(&resp);
            match Self::location(&resp, &url) {
                Some(to) => url = to,
                None => return (url, resp.text().await.unwrap()),
            }
        }
        panic!("too many redirects");
    }

    /// The first response to a GET of `url`, redirects not followed.
    pub async fn get_once(&mut self, url: &str) -> reqwest::Response {
        let resp = self
            .http
            .get(url)
            .header("cookie", self.cookie())
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        resp
    }

    /// POSTs a form to `url`, with `origin` as its Origin header when given; follows any
    /// redirect.
    pub async fn post_from(
        &mut self,
        url: &str,
        origin_header: Option<&str>,
        form: &[(&str, &str)],
    ) -> (reqwest::StatusCode, String, String) {
        let mut req = self
            .http
            .post(url)
            .header("cookie", self.cookie())
            .form(form);
        if let Some(o) = origin_header {
            req = req.header("origin", o);
        }
        let resp = req.send().await.unwrap();
        self.keep(&resp);
        let status = resp.status();
        match Self::location(&resp, url) {
            Some(to) => {
                let (url, body) = self.get(to).await;
                (status, url, body)
            }
            None => (status, url.to_owned(), resp.text().await.unwrap()),
        }
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> (String, String) {
        let (_, url, body) = self.post_from(url, None, form).await;
        (url, body)
    }
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").unwrap();
    format!("{}://{}", rest.0, rest.1.split('/').next().unwrap())
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let value = tag.split("value=\"").nth(1)?.split('"').next()?;
    Some(
        value
            .replace("&#43;", "+")
            .replace("&#x2B;", "+")
            .replace("&amp;", "&")
            .replace("&#61;", "="),
    )
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
