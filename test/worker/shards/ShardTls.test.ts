import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { isLoopback, shardHostTls, shardTlsCa } from "../../../worker/src/shards/ShardTls.js";

describe("ShardTls: a shard host beyond loopback serves TLS only", () => {
  const cert = fileURLToPath(new URL("./transport/fixtures/localhost.crt", import.meta.url));
  const key = fileURLToPath(new URL("./transport/fixtures/localhost.key", import.meta.url));
  const none = { shardHostTlsCert: undefined, shardHostTlsKey: undefined };

  it("plain HTTP/2 on loopback binds only", () => {
    for (const bind of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) expect(isLoopback(bind), bind).to.equal(true);
    for (const bind of ["0.0.0.0", "10.0.0.5", "::", "192.168.1.2", "host.example"]) expect(isLoopback(bind), bind).to.equal(false);
    expect(shardHostTls({ shardHostBind: "127.0.0.1", ...none })).to.equal(undefined);
    expect(() => shardHostTls({ shardHostBind: "0.0.0.0", ...none })).to.throw(/bound to 0\.0\.0\.0 \(beyond loopback\) needs SHARD_HOST_TLS_CERT and SHARD_HOST_TLS_KEY/);
  });

  it("reads the certificate and key (both or neither), and names a file it cannot read", () => {
    const tls = shardHostTls({ shardHostBind: "0.0.0.0", shardHostTlsCert: cert, shardHostTlsKey: key });
    expect(tls?.cert.toString()).to.contain("BEGIN CERTIFICATE");
    expect(tls?.key.toString()).to.contain("PRIVATE KEY");
    expect(() => shardHostTls({ shardHostBind: "127.0.0.1", shardHostTlsCert: cert, shardHostTlsKey: undefined })).to.throw(/go together/);
    expect(() => shardHostTls({ shardHostBind: "0.0.0.0", shardHostTlsCert: cert, shardHostTlsKey: "/nonexistent/key.pem" })).to.throw(/SHARD_HOST_TLS_KEY \/nonexistent\/key.pem cannot be read/);
    expect(shardTlsCa({ shardTlsCa: cert })?.toString()).to.contain("BEGIN CERTIFICATE");
    expect(shardTlsCa({ shardTlsCa: undefined })).to.equal(undefined);
    expect(() => shardTlsCa({ shardTlsCa: "/nonexistent/ca.pem" })).to.throw(/SHARD_TLS_CA/);
  });
});
