namespace Sockeye.Security;

/// <summary>
/// Which cipher suites a TLS listener prefers (<see cref="TlsOptions.CipherPolicy"/>). The server's
/// order decides: OpenSSL picks the first suite in it that the client also offers.
/// </summary>
/// <remarks>
/// Every choice here is an AEAD suite with forward secrecy; they differ in key length and so in cost.
/// AES-128-GCM is rated 128-bit secure against classical attacks and AES-256-GCM 256-bit; both are
/// approved for TLS by NIST SP 800-52r2, and Go's crypto/tls prefers AES-128-GCM on processors with AES
/// instructions. AES-256 runs 14 AES rounds against AES-128's 10, about 40% more work per encrypted byte;
/// for small messages the handshake and record overhead dominate, so the difference shows mostly in bulk
/// transfers (docs/SECURITY.md, "TLS, second run").
/// </remarks>
public enum TlsCipherPolicy
{
    /// <summary>OpenSSL's own defaults: TLS 1.3 prefers AES-256-GCM, then ChaCha20-Poly1305, then
    /// AES-128-GCM; TLS 1.2 uses OpenSSL's default list (AES-256-GCM first).</summary>
    Default,

    /// <summary>AES-128-GCM first, then AES-256-GCM, then ChaCha20-Poly1305, as Go's crypto/tls orders them
    /// on processors with AES instructions. TLS 1.2 is limited to ECDHE suites with those three AEAD ciphers
    /// (ECDSA and RSA certificates), in the same order.</summary>
    Aes128First,
}
