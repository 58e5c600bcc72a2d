using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Sockeye.Security;

/// <summary>
/// TLS for a <see cref="TcpServer"/> (<see cref="TcpServerOptions.Tls"/>): the certificates, the
/// protocols, ALPN, client certificates and the handshake timeout. Handlers see the same
/// <see cref="Connection"/> API as on plain TCP, with decrypted bytes on its pipes.
/// </summary>
/// <remarks>The handshake runs on the connection's task before the handler starts; it is bounded by
/// <see cref="HandshakeTimeout"/>, and failures are counted by <see cref="RefusalReason"/>.</remarks>
public sealed class TlsOptions
{
    /// <summary>The certificate served to clients that send no server name (SNI) or a name that
    /// <see cref="ServerCertificates"/> does not list.</summary>
    /// <remarks>Default: none. Without it, only clients asking for a listed name are served.</remarks>
    public TlsCertificate? Certificate { get; set; }

    /// <summary>Certificates by server name (SNI), for serving several names on one listener.</summary>
    /// <remarks>Default: empty. A key is a host name (<c>api.example.com</c>, case-insensitive) or a
    /// wildcard for one label (<c>*.example.com</c>); an exact name wins over a wildcard, and a name
    /// that matches neither gets <see cref="Certificate"/>.</remarks>
    public IDictionary<string, TlsCertificate> ServerCertificates { get; } = new Dictionary<string, TlsCertificate>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The TLS versions the server accepts.</summary>
    /// <remarks>Default: TLS 1.2 and TLS 1.3 only. Older versions have known weaknesses; enable them only
    /// for clients that cannot be upgraded.</remarks>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>The application protocols (ALPN) the server offers, most preferred first; the one
    /// chosen is in <see cref="TlsConnectionInfo.ApplicationProtocol"/>.</summary>
    /// <remarks>Default: empty (no ALPN). A client that offers ALPN but shares no protocol with this
    /// list fails the handshake, as RFC 7301 asks.</remarks>
    public IList<SslApplicationProtocol> ApplicationProtocols { get; } = [];

    /// <summary>Whether clients are asked for a certificate.</summary>
    /// <remarks>Default: <see cref="ClientCertificateMode.None"/>.</remarks>
    public ClientCertificateMode ClientCertificateMode { get; set; }

    /// <summary>Decides whether a client certificate is accepted; <see langword="null"/> accepts
    /// certificates whose chain the system trusts (no <see cref="SslPolicyErrors"/>).</summary>
    /// <remarks>Default: <see langword="null"/>. Called on the connection's task during the handshake,
    /// possibly on many connections at once: it must be thread-safe and fast. A client that sends no
    /// certificate under <see cref="ClientCertificateMode.Allow"/> does not reach it.</remarks>
    public Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? ClientCertificateValidation { get; set; }

    /// <summary>How long a client has from its connect to a completed handshake; a client that opens a
    /// socket and never completes the handshake is reset after it.</summary>
    /// <remarks>Default: 10 seconds, as Kestrel. It is a read and write deadline on the socket, so it
    /// fires at most <see cref="TcpServerOptions.TimeoutResolution"/> late. Shorter frees slots held by
    /// stalled clients sooner; too short fails honest clients on slow, lossy links.</remarks>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The most TLS handshakes under way at once; a connection that arrives while this many are
    /// pending is reset before its handshake starts and counted as
    /// <see cref="RefusalReason.TlsHandshakesPending"/>. 0 for no limit.</summary>
    /// <remarks>Default: 1,000. A pending handshake holds about 65 KB, most of it OpenSSL's state after the
    /// ClientHello (docs/SECURITY.md, "Stalled handshakes"), so the default bounds a flood of clients that
    /// send a ClientHello and go silent to about 65 MB until <see cref="HandshakeTimeout"/> cuts them;
    /// without a cap 6,000 of them every few seconds pinned 600 MB and more. The price: during such a
    /// flood honest clients are refused too once the cap is reached, as with
    /// <see cref="TcpServerOptions.MaxConnections"/>. Completing a handshake takes about 1 ms of CPU, so
    /// 1,000 pending is more than a few cores can finish within the timeout; raise it for many cores or
    /// bursts of honest clients on slow links (each pending handshake's share of
    /// <see cref="HandshakeTimeout"/> is what fills the cap).</remarks>
    public int MaxPendingHandshakes { get; set; } = 1_000;

    /// <summary>How often, at most, the server asks the C allocator to give freed memory back to the
    /// operating system after TLS handshakes failed or timed out; <see cref="TimeSpan.Zero"/> turns it off.</summary>
    /// <remarks>Default: 5 seconds. An aborted handshake frees OpenSSL's state, but glibc keeps the freed
    /// pages in its arenas, so waves of stalled handshakes ratchet the resident size up (measured: 54 MB
    /// to 600 MB after four waves of 6,000) although nothing is in use. After a failure the server waits
    /// this long, then calls <c>malloc_trim(0)</c> once for every failure in that interval (Linux with
    /// glibc only; elsewhere nothing happens). A trim walks the heaps and holds their locks: measured at 13 to 66 ms
    /// of one thread after bursts of 6,000 aborted handshakes (docs/SECURITY.md), so at most one per interval.</remarks>
    public TimeSpan NativeMemoryTrimInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether certificates read from files are reloaded when the files change.</summary>
    /// <remarks>Default: <see langword="true"/>. New connections get the new certificate; open ones keep
    /// theirs. A file that cannot be read (for example half written) leaves the previous certificate in
    /// place, and the next change retries. <see cref="TcpServer.ReloadTlsCertificates"/> reloads on demand
    /// (the CLI calls it on SIGHUP).</remarks>
    public bool ReloadOnFileChange { get; set; } = true;

    /// <summary>Whether OpenSSL may free a connection's TLS record buffers between records, so an idle
    /// TLS connection costs about 10 KB instead of 40 KB (docs/SECURITY.md, "Measured").</summary>
    /// <remarks>Default: <see langword="true"/>. It sets OpenSSL's <c>SSL_MODE_RELEASE_BUFFERS</c>, which
    /// .NET does not expose, through guarded access to <see cref="SslStream"/>'s internals on Linux; where
    /// they differ (another runtime version or operating system) nothing changes and event 1300 says why.
    /// The price is an allocation and a free of about 17 KB per TLS record read and written (a few
    /// percent of the CPU per round trip); turn it off for few connections that are busy all the time.</remarks>
    public bool ReleaseIdleBuffers { get; set; } = true;

    /// <summary>Which cipher suites the server prefers; see <see cref="TlsCipherPolicy"/> for the
    /// strength and cost of each.</summary>
    /// <remarks>Default: <see cref="TlsCipherPolicy.Default"/> (OpenSSL's order, AES-256-GCM first).
    /// <see cref="TlsCipherPolicy.Aes128First"/> negotiates what Go's crypto/tls does. On Linux the order is
    /// set once on the OpenSSL context that .NET shares between a certificate's handshakes, so session
    /// resumption and the shared context stay; where that is not possible (event 1302) .NET's
    /// <see cref="CipherSuitesPolicy"/> is used instead, which gives every handshake a context of its own
    /// and so no resumption (measured in docs/SECURITY.md).</remarks>
    public TlsCipherPolicy CipherPolicy { get; set; }

    /// <summary>Whether a returning client may resume its earlier TLS session (TLS 1.3 session tickets,
    /// TLS 1.2 tickets and session IDs) instead of a full handshake with a signature.</summary>
    /// <remarks>Default: <see langword="true"/>, as .NET and Go have it. A resumed handshake skips the
    /// certificate signature and its verification but, in TLS 1.3, not the key exchange: measured at 8–25%
    /// less server CPU than a full one (BENCHMARKS.md, "TLS, second run" and "TLS, third run"). The server
    /// sends one TLS 1.3 ticket per handshake, as Go does (OpenSSL's default is two). Tickets are encrypted with a key that lives in the process and is new on every
    /// start and on every certificate reload, so a ticket never outlives the certificate it was issued
    /// under. Turn it off only if every connection must prove its key again; on Linux that also costs a new
    /// OpenSSL context per handshake, because .NET shares one per certificate only while resumption is
    /// allowed.</remarks>
    public bool AllowSessionResumption { get; set; } = true;

    /// <summary>How <see cref="ReleaseIdleBuffers"/> reaches OpenSSL; tests replace it to see the fallback.</summary>
    internal Internal.OpenSslBufferRelease BufferRelease { get; set; } = Internal.OpenSslBufferRelease.Shared;

    /// <summary>How <see cref="CipherPolicy"/> reaches OpenSSL; tests replace it to see the fallback.</summary>
    internal Internal.OpenSslCipherOrder CipherOrder { get; set; } = Internal.OpenSslCipherOrder.Shared;

    internal void Validate()
    {
        if (Certificate is null && ServerCertificates.Count == 0)
        {
            throw new ArgumentException("Tls needs a Certificate or at least one entry in ServerCertificates", nameof(TcpServerOptions.Tls));
        }

        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout > Timing.DurationText.Maximum)
        {
            throw new ArgumentException($"Tls.HandshakeTimeout must be positive and at most {Timing.DurationText.Format(Timing.DurationText.Maximum)}, got {HandshakeTimeout}", nameof(TcpServerOptions.Tls));
        }

        if (!Enum.IsDefined(CipherPolicy))
        {
            throw new ArgumentException($"Tls.CipherPolicy must be one of {string.Join(", ", Enum.GetNames<TlsCipherPolicy>())}, got {(int)CipherPolicy}", nameof(TcpServerOptions.Tls));
        }

        if (MaxPendingHandshakes < 0)
        {
            throw new ArgumentException($"Tls.MaxPendingHandshakes must be 0 (no limit) or positive, got {MaxPendingHandshakes}", nameof(TcpServerOptions.Tls));
        }

        if (NativeMemoryTrimInterval < TimeSpan.Zero || NativeMemoryTrimInterval > Timing.DurationText.Maximum)
        {
            throw new ArgumentException($"Tls.NativeMemoryTrimInterval must be zero (off) or positive and at most {Timing.DurationText.Format(Timing.DurationText.Maximum)}, got {NativeMemoryTrimInterval}", nameof(TcpServerOptions.Tls));
        }

        foreach (var name in ServerCertificates.Keys)
        {
            if (string.IsNullOrWhiteSpace(name) || (name.Contains('*', StringComparison.Ordinal) && !(name.StartsWith("*.", StringComparison.Ordinal) && name.LastIndexOf('*') == 0)))
            {
                throw new ArgumentException($"Tls.ServerCertificates has an invalid server name '{name}' (a host name, or *.domain for one label)", nameof(TcpServerOptions.Tls));
            }
        }
    }
}
