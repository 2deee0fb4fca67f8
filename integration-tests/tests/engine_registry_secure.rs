//! berth against registries that are not open and local: TLS with a CA the test
//! makes (certs.d's ca.crt and client certificates, an unknown CA refused),
//! bearer tokens from a token issuer of the test's own that signs with a key the
//! registry trusts, and mirrors, one of them dead. Registries that must look
//! remote run in a network namespace of the test's own, on an address that is
//! not loopback (so TLS is verified) and that nothing outside answers (so a
//! wrong fallback to docker.io finds no route). Root only.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use base64::Engine as _;
use berth_integration_tests::engine::Engine;
use berth_integration_tests::netns::NetNs;
use berth_integration_tests::registry::{LocalRegistry, Options, Tls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const CLI: Duration = Duration::from_secs(90);

/// A CA of the test's own and the certificates it signs, as PEM files in `dir`.
struct Pki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Result<Pki> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = params.self_signed(&key)?;
        let ca_pem = ca.pem();
        std::fs::write(dir.join(format!("{name}.pem")), &ca_pem)?;
        Ok(Pki {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
            ca_pem,
        })
    }

    fn ca_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// A leaf for `sans` (IP addresses or names): (cert path, key path, cert DER, key).
    fn leaf(&self, name: &str, sans: &[&str]) -> Result<(PathBuf, PathBuf, Vec<u8>, KeyPair)> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.issuer)?;
        let (c, k) = (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem())?;
        std::fs::write(&k, key.serialize_pem())?;
        Ok((c, k, cert.der().to_vec(), key))
    }
}

/// What the registry's storage says `repo:tag` points at, if anything.
fn tag_in_storage(reg: &LocalRegistry, repo: &str, tag: &str) -> Option<String> {
    let link = reg
        .dir()
        .join("data/docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags")
        .join(tag)
        .join("current/link");
    std::fs::read_to_string(link).ok()
}

/// The repo digest berth records for `r` (`images --digests`).
fn repo_digest(e: &Engine, r: &str) -> Result<String> {
    let out = e.ok(&["image", "inspect", "--format", "{{json .RepoDigests}}", r])?;
    let v: Vec<String> =
        serde_json::from_str(&out).with_context(|| format!("RepoDigests: {out}"))?;
    v.first()
        .and_then(|d| d.split('@').nth(1))
        .map(str::to_string)
        .with_context(|| format!("no repo digest for {r}: {out}"))
}

#[test]
fn tls_is_verified_with_certs_d_and_client_certificates() -> Result<()> {
    let ns = NetNs::create()?;
    let tmp = tempfile::tempdir()?;
    let pki = Pki::new(tmp.path(), "test-ca")?;
    let clients = Pki::new(tmp.path(), "client-ca")?;
    let (cert, key, _, _) = pki.leaf("registry", &[NetNs::ADDR])?;
    let reg = LocalRegistry::start_opts(Options {
        tls: Some(Tls {
            cert,
            key,
            client_cas: vec![clients.ca_path("client-ca")],
        }),
        netns: Some(&ns),
        ..Options::default()
    })?;
    let certs_d = tmp.path().join("certs.d");
    let e = Engine::start_in(&ns, &format!(r#"{{"certs-dir": "{}"}}"#, certs_d.display()))?;
    let r = format!("{}/tls/bb:v1", reg.host());
    e.ok(&["tag", "busybox", &r])?;

    // No CA for it: the registry's certificate is refused, as docker refuses it.
    let o = e.cli_timeout(&["push", &r], CLI)?;
    ensure!(
        !o.success(),
        "push to a registry of an unknown CA succeeded"
    );
    ensure!(
        o.stderr.to_lowercase().contains("certificate"),
        "unknown CA: {}",
        o.stderr
    );
    ensure!(tag_in_storage(&reg, "tls/bb", "v1").is_none());

    // The CA, but no client certificate: the registry refuses the handshake.
    let host_dir = certs_d.join(reg.host());
    std::fs::create_dir_all(&host_dir)?;
    std::fs::write(host_dir.join("ca.crt"), &pki.ca_pem)?;
    let o = e.cli_timeout(&["push", &r], CLI)?;
    ensure!(
        !o.success(),
        "push without the client certificate the registry requires succeeded"
    );
    ensure!(tag_in_storage(&reg, "tls/bb", "v1").is_none());

    // A client certificate of the CA the registry trusts: through.
    let (ccert, ckey, _, _) = clients.leaf("client", &["berth-client"])?;
    std::fs::copy(&ccert, host_dir.join("client.cert"))?;
    std::fs::copy(&ckey, host_dir.join("client.key"))?;
    e.cli_timeout(&["push", &r], CLI)?.check()?;
    let stored = tag_in_storage(&reg, "tls/bb", "v1").context("the registry holds no tls/bb:v1")?;

    e.ok(&["rmi", &r])?;
    e.cli_timeout(&["pull", &r], CLI)?.check()?;
    ensure!(
        repo_digest(&e, &r)? == stored.trim(),
        "pulled digest differs from the registry's {stored}"
    );
    let seen = e.ok(&["run", "--rm", &r, "cat", "/etc/hostname"]);
    ensure!(seen.is_ok(), "the pulled image does not run: {seen:?}");
    Ok(())
}

/// A token issuer: `GET /token?service&scope…&account` with basic credentials,
/// answering JWTs (ES256, `x5c`: the signer's certificate, which the registry's
/// root bundle vouches for) that grant what each user may do.
struct TokenIssuer {
    port: u16,
    /// (account, scopes) of every request, in order.
    requests: Arc<Mutex<Vec<Request>>>,
}

/// A user's password and grants: repository prefix → actions.
type Users = HashMap<&'static str, (&'static str, Vec<(&'static str, Vec<&'static str>)>)>;
/// A token request: account (empty: anonymous) and scopes.
type Request = (String, Vec<String>);

const SERVICE: &str = "berth-test-registry";
const ISSUER: &str = "berth-test-issuer";

impl TokenIssuer {
    /// `users`: name → (password, repository prefix → actions allowed).
    fn start(signer_der: Vec<u8>, signer: KeyPair, users: Users) -> Result<TokenIssuer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signer.serialize_der(),
            &rng,
        )
        .map_err(|e| anyhow::anyhow!("signing key: {e}"))?;
        let x5c = base64::engine::general_purpose::STANDARD.encode(&signer_der);
        let ctx = Arc::new((key, rng, x5c, users));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let ctx = ctx.clone();
                let log = log.clone();
                std::thread::spawn(move || {
                    let (key, rng, x5c, users) = &*ctx;
                    let _ = serve_token(conn, key, rng, x5c, users, &log);
                });
            }
        });
        Ok(TokenIssuer { port, requests })
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve_token(
    conn: TcpStream,
    key: &ring::signature::EcdsaKeyPair,
    rng: &ring::rand::SystemRandom,
    x5c: &str,
    users: &Users,
    log: &Mutex<Vec<Request>>,
) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut rd = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    rd.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = v.trim().strip_prefix("Basic ").map(str::to_string);
            }
        }
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut scopes = Vec::new();
    for kv in query.split('&') {
        if let Some(("scope", v)) = kv.split_once('=') {
            scopes.push(percent_decode(v));
        }
    }
    let user = auth.and_then(|a| {
        let raw = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    });
    if let Ok(mut l) = log.lock() {
        l.push((
            user.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
            scopes.clone(),
        ));
    }
    let grants = match &user {
        None => Vec::new(),
        Some((u, p)) => match users.get(u.as_str()) {
            Some((pw, g)) if pw == p => g.clone(),
            _ => {
                return respond(
                    conn,
                    "401 Unauthorized",
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}"#,
                )
            }
        },
    };
    // Of what each scope asks, what the user's grants allow.
    let mut access = Vec::new();
    for s in &scopes {
        let mut parts = s.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let allowed: Vec<&str> = actions
            .split(',')
            .filter(|a| {
                grants
                    .iter()
                    .any(|(prefix, acts)| name.starts_with(prefix) && acts.contains(a))
            })
            .collect();
        access.push(serde_json::json!({"type": kind, "name": name, "actions": allowed}));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": user.map(|u| u.0).unwrap_or_default(), "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", scopes.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let sig = key
        .sign(rng, signing_input.as_bytes())
        .map_err(|e| anyhow::anyhow!("sign: {e}"))?;
    let token = format!("{signing_input}.{}", b64.encode(sig.as_ref()));
    respond(
        conn,
        "200 OK",
        &serde_json::json!({"token": token, "expires_in": 300}).to_string(),
    )
}

fn respond(mut conn: TcpStream, status: &str, body: &str) -> Result<()> {
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        let hex = tail
            .get(..2)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                rest = &tail[2..];
                continue;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        rest = tail;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn bearer_tokens_are_fetched_per_scope_and_grant_only_what_the_issuer_allows() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let pki = Pki::new(tmp.path(), "token-ca")?;
    let (_, _, signer_der, signer) = pki.leaf("token-signer", &["token-signer"])?;
    let users: Users = HashMap::from([
        ("alice", ("s3cret", vec![("alice/", vec!["pull", "push"])])),
        ("bob", ("hunter2", vec![("alice/", vec!["pull"])])),
    ]);
    let issuer = TokenIssuer::start(signer_der, signer, users)?;
    let reg = LocalRegistry::start_with(&format!(
        "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        issuer.realm(),
        pki.ca_path("token-ca").display()
    ))?;
    let e = Engine::start()?;
    let alice_cfg = tmp.path().join("alice");
    let bob_cfg = tmp.path().join("bob");
    let as_user = |e: &Engine, cfg: &Path, args: &[&str]| {
        let mut c = e.command(args);
        c.env("DOCKER_CONFIG", cfg);
        e.run(c, CLI)
    };

    // A wrong password: refused with the issuer's words, nothing stored.
    let o = as_user(
        &e,
        &alice_cfg,
        &["login", "-u", "alice", "-p", "nope", &reg.host()],
    )?;
    ensure!(!o.success(), "a wrong password was accepted");
    ensure!(
        o.stderr.contains("incorrect username or password"),
        "wrong password: {}",
        o.stderr
    );
    ensure!(
        !alice_cfg.join("config.json").exists(),
        "a refused login stored credentials"
    );
    as_user(
        &e,
        &alice_cfg,
        &["login", "-u", "alice", "-p", "s3cret", &reg.host()],
    )?
    .check()?;
    as_user(
        &e,
        &bob_cfg,
        &["login", "-u", "bob", "-p", "hunter2", &reg.host()],
    )?
    .check()?;

    // Anonymous push: the issuer grants nothing, the registry refuses.
    let r = format!("{}/alice/bb:v1", reg.host());
    e.ok(&["tag", "busybox", &r])?;
    let o = e.cli_timeout(&["push", &r], CLI)?;
    ensure!(!o.success(), "an anonymous push succeeded");
    ensure!(tag_in_storage(&reg, "alice/bb", "v1").is_none());

    as_user(&e, &alice_cfg, &["push", &r])?.check()?;
    let stored = tag_in_storage(&reg, "alice/bb", "v1").context("alice/bb:v1 not stored")?;
    ensure!(
        issuer
            .requests()
            .iter()
            .any(|(u, s)| u == "alice" && s.iter().any(|s| s == "repository:alice/bb:pull,push")),
        "no token was asked for alice/bb's push scope: {:?}",
        issuer.requests()
    );

    // A second repository of the same layers: mounted from the first, which
    // needs a token for both repositories.
    let r2 = format!("{}/alice/bb2:v1", reg.host());
    e.ok(&["tag", "busybox", &r2])?;
    as_user(&e, &alice_cfg, &["push", &r2])?.check()?;
    ensure!(tag_in_storage(&reg, "alice/bb2", "v1").is_some());
    let mounted = reg.log().lines().any(|l| {
        l.contains("http.request.method=POST")
            && l.contains("/v2/alice/bb2/blobs/uploads/?")
            && l.contains("mount=")
            && l.contains("http.response.status=201")
    });
    ensure!(mounted, "no layer of alice/bb2 was mounted from alice/bb");

    // bob may pull alice's images, not push them.
    let f = Engine::start_bare("{}")?;
    as_user(&f, &bob_cfg, &["pull", &r])?.check()?;
    ensure!(
        repo_digest(&f, &r)? == stored.trim(),
        "bob pulled another digest"
    );
    let r3 = format!("{}/alice/bb:bob", reg.host());
    f.ok(&["tag", &r, &r3])?;
    let o = as_user(&f, &bob_cfg, &["push", &r3])?;
    ensure!(!o.success(), "bob pushed with a pull-only grant");
    ensure!(
        o.stderr.to_lowercase().contains("denied")
            || o.stderr.to_lowercase().contains("unauthorized"),
        "refused push: {}",
        o.stderr
    );
    ensure!(tag_in_storage(&reg, "alice/bb", "bob").is_none());
    Ok(())
}

#[test]
fn a_dead_mirror_gives_way_to_the_next_then_to_the_origin() -> Result<()> {
    let ns = NetNs::create()?;
    let mirror = LocalRegistry::start_opts(Options {
        netns: Some(&ns),
        ..Options::default()
    })?;
    let origin = LocalRegistry::start_opts(Options {
        netns: Some(&ns),
        ..Options::default()
    })?;
    // A port in the namespace nobody listens on.
    let dead = ns.enter(|| {
        TcpListener::bind((NetNs::ADDR, 0)).and_then(|l| l.local_addr().map(|a| a.port()))
    })??;
    let dead = format!("http://{}:{dead}", NetNs::ADDR);
    let live = format!("http://{}", mirror.host());
    let e = Engine::start_in(
        &ns,
        &serde_json::json!({
            "insecure-registries": [format!("{}/32", NetNs::ADDR)],
            "registry-mirrors": [dead, live],
            "mirrors": { origin.host(): [dead, live] },
        })
        .to_string(),
    )?;
    // What the mirror holds: docker.io's library/mbox (its mirror path) and the
    // origin's m/only-mirror; the origin holds m/only-origin.
    for r in [
        format!("{}/library/mbox:1", mirror.host()),
        format!("{}/m/only-mirror:1", mirror.host()),
        format!("{}/m/only-origin:1", origin.host()),
    ] {
        e.ok(&["tag", "busybox", &r])?;
        e.cli_timeout(&["push", "-q", &r], CLI)?.check()?;
        e.ok(&["rmi", &r])?;
    }
    let f = Engine::start_in(&ns, &std::fs::read_to_string(e.config())?)?;
    // docker.io, served by the live mirror (the namespace has no route to the
    // real docker.io: only a mirror can answer).
    f.cli_timeout(&["pull", "mbox:1"], CLI)?.check()?;
    ensure!(
        f.ok(&["images", "-q", "mbox:1"])?.len() >= 12,
        "mbox:1 not in images after the pull"
    );
    // Any registry's mirrors (berth's extension): the mirror has it.
    let only_mirror = format!("{}/m/only-mirror:1", origin.host());
    f.cli_timeout(&["pull", &only_mirror], CLI)?.check()?;
    // The mirror does not have it: the origin does.
    let only_origin = format!("{}/m/only-origin:1", origin.host());
    f.cli_timeout(&["pull", &only_origin], CLI)?.check()?;
    f.ok(&["run", "--rm", &only_origin, "true"])?;
    ensure!(
        !origin.log().contains("m/only-mirror"),
        "the origin was asked for what a mirror served"
    );
    Ok(())
}
