//! Authentication against a registry, as the distribution spec and docker do it:
//! `GET /v2/` answers 401 with a `WWW-Authenticate` challenge; `Basic` means the
//! credentials go with every request, `Bearer realm=…,service=…` means a token is
//! fetched from the realm for the scopes of the operation (with the credentials,
//! if any) and sent instead. A token that stops being accepted (expired, or a
//! scope it lacks) is fetched again once, with the scope the new challenge names.

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};

use super::transport::Endpoint;
use super::{Error, Result};

/// Credentials for one registry, as the CLI found them in its config.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (docker's `identitytoken`) instead of a password.
    pub identity_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    pub fn parse(h: &str) -> Option<Challenge> {
        let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

/// `k="v", k2=v2` pairs; quoted values may hold commas and escaped quotes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            val = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
            val = val.trim().to_string();
        }
        out.push((key.trim().to_string(), val));
    }
    out
}

/// The registry's own words from an error response: the distribution spec's
/// `{"errors":[{"code","message"}]}`, else the body, else the status.
pub async fn error_text(resp: Response) -> String {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_str::<Envelope>(&body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|i| match (i.code.is_empty(), i.message.is_empty()) {
                (false, false) => format!("{}: {}", i.code.to_lowercase(), i.message),
                (false, true) => i.code.to_lowercase(),
                _ => i.message.clone(),
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let body = body.trim();
    if body.is_empty() || body.len() > 512 {
        status.to_string()
    } else {
        format!("{status}: {body}")
    }
}

/// One client's authenticated conversation with one endpoint, for a set of scopes.
/// Clones share nothing but the token they start with (parallel layer downloads).
#[derive(Debug, Clone)]
pub struct Session {
    pub endpoint: Endpoint,
    creds: Option<Credentials>,
    challenge: Option<Challenge>,
    /// The `Authorization` header in use.
    header: Option<HeaderValue>,
    scopes: Vec<String>,
    pinged: bool,
}

impl Session {
    pub fn new(endpoint: Endpoint, creds: Option<Credentials>) -> Session {
        Session {
            endpoint,
            creds: creds.filter(|c| !c.username.is_empty() || !c.identity_token.is_empty()),
            challenge: None,
            header: None,
            scopes: Vec::new(),
            pinged: false,
        }
    }

    /// Sets the scopes (`repository:NAME:pull,push`) tokens are fetched for.
    pub fn with_scopes(mut self, scopes: Vec<String>) -> Session {
        self.scopes = scopes;
        self
    }

    fn transport_err(&self, url: &str, e: reqwest::Error) -> Error {
        Error::Transport {
            url: url.to_string(),
            source: e,
        }
    }

    /// `GET /v2/`: reachable? what challenge? Errors are transport errors (try
    /// the next endpoint) or the registry's answer.
    pub async fn ping(&mut self) -> Result<()> {
        if self.pinged {
            return Ok(());
        }
        let url = self.endpoint.url("");
        let resp = self
            .endpoint
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| self.transport_err(&url, e))?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                self.challenge = challenge_of(&resp);
            }
            s if s.is_server_error() || s == StatusCode::NOT_FOUND => {
                return Err(Error::Http {
                    registry: self.endpoint.base.clone(),
                    message: format!("not a registry: GET /v2/ answered {s}"),
                })
            }
            _ => {}
        }
        self.pinged = true;
        Ok(())
    }

    /// `docker login`'s check: the credentials must earn a token (bearer) or a 200
    /// from `/v2/` (basic). A refusal carries the registry's message.
    pub async fn check_login(&mut self) -> Result<()> {
        self.ping().await?;
        match self.challenge.clone() {
            None => Ok(()),
            Some(Challenge::Basic) => {
                self.header = self.basic_header();
                let url = self.endpoint.url("");
                let resp = self
                    .authed(self.endpoint.client.get(&url))
                    .send()
                    .await
                    .map_err(|e| self.transport_err(&url, e))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(Error::Unauthorized(error_text(resp).await))
                }
            }
            Some(Challenge::Bearer { realm, service, .. }) => self
                .fetch_token(&realm, service.as_deref(), &[])
                .await
                .map(|_| ()),
        }
    }

    fn basic_header(&self) -> Option<HeaderValue> {
        self.creds
            .as_ref()
            .and_then(|c| HeaderValue::from_str(&c.basic()).ok())
    }

    fn authed(&self, rb: RequestBuilder) -> RequestBuilder {
        match &self.header {
            Some(h) => rb.header(AUTHORIZATION, h.clone()),
            None => rb,
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<HeaderValue> {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            q.push(("service", s));
        }
        for s in scopes {
            q.push(("scope", s));
        }
        let mut rb = self.endpoint.client.get(realm).query(&q);
        if let Some(c) = &self.creds {
            if !c.identity_token.is_empty() {
                // docker: a refresh token is exchanged by POST (OAuth2).
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", c.identity_token.as_str()),
                    ("client_id", "berth"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let scope = scopes.join(" ");
                form.push(("scope", &scope));
                rb = self.endpoint.client.post(realm).form(&form);
            } else {
                rb = rb.header(AUTHORIZATION, c.basic());
                rb = rb.query(&[("account", &c.username)]);
            }
        }
        let resp = rb.send().await.map_err(|e| self.transport_err(realm, e))?;
        if !resp.status().is_success() {
            let unauthorized = matches!(
                resp.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            );
            let msg = error_text(resp).await;
            return Err(if unauthorized {
                Error::Unauthorized(msg)
            } else {
                Error::Http {
                    registry: realm.to_string(),
                    message: format!("token endpoint: {msg}"),
                }
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_err(realm, e))?;
        let t: Token = serde_json::from_slice(&body).map_err(|e| Error::Http {
            registry: realm.to_string(),
            message: format!("token endpoint sent no token: {e}"),
        })?;
        let tok = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if tok.is_empty() {
            return Err(Error::Http {
                registry: realm.to_string(),
                message: "token endpoint sent an empty token".into(),
            });
        }
        HeaderValue::from_str(&format!("Bearer {tok}")).map_err(|_| Error::Http {
            registry: realm.to_string(),
            message: "token endpoint sent a token that is not a header value".into(),
        })
    }

    /// Answers the current challenge for the session's scopes (plus `extra`).
    async fn authenticate(&mut self, extra: Option<String>) -> Result<()> {
        match self.challenge.clone() {
            None => {}
            Some(Challenge::Basic) => self.header = self.basic_header(),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let mut scopes = self.scopes.clone();
                for s in extra
                    .iter()
                    .flat_map(|e| e.split(' '))
                    .filter(|s| !s.is_empty())
                {
                    if !scopes.iter().any(|x| x == s) {
                        scopes.push(s.to_string());
                    }
                }
                self.header = Some(
                    self.fetch_token(&realm, service.as_deref(), &scopes)
                        .await?,
                );
            }
        }
        Ok(())
    }

    async fn send_once(
        &self,
        make: &impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        self.authed(make(&self.endpoint.client))
            .send()
            .await
            .map_err(|e| Error::Transport {
                url: self.endpoint.base.clone(),
                source: e,
            })
    }

    /// Sends a request built by `make` with the session's credentials; on a 401
    /// answers the new challenge and sends it once more.
    pub async fn send(
        &mut self,
        make: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        self.ping().await?;
        if self.header.is_none() && self.challenge.is_some() {
            self.authenticate(None).await?;
        }
        let resp = self.send_once(&make).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(ch) = challenge_of(&resp) else {
            return Err(Error::Unauthorized(error_text(resp).await));
        };
        let extra = match &ch {
            Challenge::Bearer { scope, .. } => scope.clone(),
            Challenge::Basic => None,
        };
        self.challenge = Some(ch);
        self.authenticate(extra).await?;
        let resp = self.send_once(&make).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(Error::Unauthorized(error_text(resp).await));
        }
        Ok(resp)
    }
}

fn challenge_of(resp: &Response) -> Option<Challenge> {
    resp.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(Challenge::parse)
        // Bearer wins when a registry offers both.
        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        let p = parse_params(r#"realm="a\"b,c", x=y"#);
        assert_eq!(
            p,
            vec![("realm".into(), "a\"b,c".into()), ("x".into(), "y".into())]
        );
    }
}
