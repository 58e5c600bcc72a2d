using System.Net.Security;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.Authentication;

namespace Sockeye.Security.Internal;

/// <summary>
/// Puts a <see cref="TlsCipherPolicy"/> into effect on the OpenSSL context (<c>SSL_CTX</c>) that .NET
/// shares between the handshakes of one <see cref="SslStreamCertificateContext"/>, so the order holds
/// without giving up that sharing or session resumption.
/// </summary>
/// <remarks>
/// <para>Why not .NET's <see cref="CipherSuitesPolicy"/>: on Linux, .NET keeps one <c>SSL_CTX</c> per
/// certificate context (and protocol set) and reuses it, which is what makes session tickets decrypt on
/// the next connection; a <see cref="CipherSuitesPolicy"/> turns that cache off (dotnet/runtime
/// <c>Interop.OpenSsl.cs</c>, <c>AllocateSslHandle</c>), so every handshake builds a context of its own
/// and none can resume. It stays the fallback (<see cref="Fallback"/>).</para>
/// <para>How: before the listener serves anyone, one handshake runs between an in-process client and
/// server with the listener's own options. That makes .NET create and cache the shared <c>SSL_CTX</c>;
/// the server's <c>SSL*</c> (the handle in <see cref="SslStream"/>'s private <c>_securityContext</c>, as
/// in <see cref="OpenSslBufferRelease"/>) leads to it through <c>SSL_get_SSL_CTX</c>, and
/// <c>SSL_CTX_set_ciphersuites</c> (TLS 1.3) and <c>SSL_CTX_set_cipher_list</c> (TLS 1.2) set the order.
/// A second handshake then proves it: it must reach the same context and negotiate the policy's first
/// suite. Changing an <c>SSL_CTX</c> is not safe while other threads create connections from it; here
/// nothing else can, because the certificate context is not yet published to the accept path (at start
/// and at every reload a new one is made).</para>
/// <para>Any mismatch (another operating system or runtime, a field that moved, no <c>libssl</c> loaded,
/// a context not shared) leaves the certificate context as .NET made it and returns the reason; the
/// caller then uses the fallback. Safe for concurrent use.</para>
/// </remarks>
internal sealed class OpenSslCipherOrder
{
    private static readonly TimeSpan PrimeTimeout = TimeSpan.FromSeconds(10);

    private readonly string _contextField;
    private readonly string _libraryName;
    private readonly Lock _initLock = new();
    private Native? _native;
    private string? _unavailable;
    private bool _initialized;

    /// <summary>Works with .NET's OpenSSL-backed <see cref="SslStream"/> on Linux (checked on .NET 10
    /// with OpenSSL 3).</summary>
    public static OpenSslCipherOrder Shared { get; } = new("_securityContext", "libssl.so");

    /// <param name="contextField">The <see cref="SslStream"/> field that holds the <c>SSL</c> handle.</param>
    /// <param name="libraryName">The file name prefix of OpenSSL's TLS library.</param>
    internal OpenSslCipherOrder(string contextField, string libraryName)
    {
        _contextField = contextField;
        _libraryName = libraryName;
    }

    /// <summary>The TLS 1.3 suites of <paramref name="policy"/> in OpenSSL's syntax, most preferred first;
    /// null for <see cref="TlsCipherPolicy.Default"/>.</summary>
    public static string? Tls13Suites(TlsCipherPolicy policy) => policy switch
    {
        TlsCipherPolicy.Aes128First => "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
        _ => null,
    };

    /// <summary>The TLS 1.2 suites of <paramref name="policy"/> as an OpenSSL cipher list.</summary>
    public static string? Tls12Suites(TlsCipherPolicy policy) => policy switch
    {
        TlsCipherPolicy.Aes128First => "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        _ => null,
    };

    /// <summary>The suites a handshake under <paramref name="policy"/> settles on first, whatever the
    /// certificate's key type and the protocol version.</summary>
    public static bool IsPreferred(TlsCipherPolicy policy, TlsCipherSuite suite) => policy switch
    {
        TlsCipherPolicy.Aes128First => suite is TlsCipherSuite.TLS_AES_128_GCM_SHA256
            or TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            or TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        _ => true,
    };

    /// <summary>.NET's own way to the same order: correct everywhere it is supported, but it turns off
    /// the shared OpenSSL context, and with it resumption (see the remarks).</summary>
    [UnsupportedOSPlatform("windows")]
    public static CipherSuitesPolicy? Fallback(TlsCipherPolicy policy) => policy switch
    {
        TlsCipherPolicy.Aes128First => new CipherSuitesPolicy(
        [
            TlsCipherSuite.TLS_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]),
        _ => null,
    };

    /// <summary>TLS 1.3 session tickets a server sends after each handshake once
    /// <see cref="TryApply"/> has run: one, as Go's crypto/tls sends, instead of OpenSSL's default two.
    /// Each ticket is a copy of the session encrypted and MACed under the context's ticket key, and at
    /// OpenSSL 3.0 the second one was about a tenth of a full handshake's CPU in the C floor
    /// (BENCHMARKS.md, "TLS, third run"). A client that resumes takes one ticket per connection; one
    /// that opens several resumed connections at once from one handshake needs more than one.</summary>
    public const int TicketsPerHandshake = 1;

    /// <summary>Sets <paramref name="policy"/>, and with <paramref name="tickets"/> the number of TLS 1.3
    /// session tickets per handshake (<c>SSL_CTX_set_num_tickets</c>), on the OpenSSL context that
    /// handshakes with <paramref name="server"/> (a listener's options, with its certificate context) will
    /// share. Call it before any real handshake uses that certificate context.</summary>
    /// <returns><see langword="null"/> when everything asked is in effect and proven (or nothing was
    /// asked); otherwise why not, with the certificate context left as .NET made it.</returns>
    /// <remarks>On success <c>pin</c> is the server end of the proving handshake, kept open: while it lives
    /// .NET counts the shared context as in use, and its cache never evicts a context in use (it drops
    /// every idle one whenever it reaches a multiple of 32 entries, and the next handshake would then get a
    /// fresh context without these settings). Dispose it when the certificate context is no longer served.</remarks>
    public string? TryApply(SslServerAuthenticationOptions server, TlsCipherPolicy policy, int? tickets, out IAsyncDisposable? pin)
    {
        pin = null;
        var tls13 = Tls13Suites(policy);
        var tls12 = Tls12Suites(policy);
        if ((tls13 is null || tls12 is null) && tickets is null)
        {
            return null;
        }

        try
        {
            var (reason, kept) = Task.Run(() => ApplyAsync(server, policy, tls13, tls12, tickets)).WaitAsync(PrimeTimeout).GetAwaiter().GetResult();
            pin = kept;
            return reason;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or TimeoutException)
        {
            return $"the in-process handshake that prepares the OpenSSL context failed: {ex.Message}";
        }
    }

    private async Task<(string? Reason, IAsyncDisposable? Pin)> ApplyAsync(SslServerAuthenticationOptions server, TlsCipherPolicy policy, string? tls13, string? tls12, int? tickets)
    {
        var proof = new StrongBox<Pair?>();
        var reason = await ApplyCoreAsync(server, policy, tls13, tls12, tickets, proof).ConfigureAwait(false);
        if (reason is null)
        {
            return (null, proof.Value);
        }

        if (proof.Value is { } failed)
        {
            await failed.DisposeAsync().ConfigureAwait(false);
        }

        return (reason, null);
    }

    /// <remarks><c>proof</c> receives the proving handshake's pair, for the caller to keep or dispose.</remarks>
    private async Task<string?> ApplyCoreAsync(SslServerAuthenticationOptions server, TlsCipherPolicy policy, string? tls13, string? tls12, int? tickets, StrongBox<Pair?> proof)
    {
        nint sharedContext;
        var first = await HandshakeAsync(server).ConfigureAwait(false);
        await using (first.ConfigureAwait(false))
        {
            var native = Initialize(first.Server);
            if (native is null)
            {
                return Volatile.Read(ref _unavailable);
            }

            sharedContext = WithSsl(native, first.Server, ssl =>
            {
                if (native.IsServer(ssl) != 1)
                {
                    return 0;
                }

                var context = native.GetContext(ssl);
                if (context == 0)
                {
                    return 0;
                }

                var ordered = tls13 is null || tls12 is null || (native.SetSuites(context, tls13) && native.SetCipherList(context, tls12));

                // A plain store of a count; set only when it differs, so a context .NET shares with a
                // listener already serving (the same certificate loaded twice) sees no write at all.
                var counted = tickets is not { } count || native.GetTickets(context) == (nuint)count || native.SetTickets(context, (nuint)count);
                return ordered && counted ? context : 0;
            });
            if (sharedContext == 0)
            {
                return tls13 is null ? "OpenSSL did not accept the session ticket count on the server's context"
                    : "OpenSSL did not accept the cipher order on the server's context";
            }
        }

        // The proof: the next handshake reaches the same context and settles on the policy's first suite.
        var second = await HandshakeAsync(server).ConfigureAwait(false);
        proof.Value = second;
        var native2 = _native!;
        var reached = WithSsl(native2, second.Server, native2.GetContext);
        if (reached != sharedContext)
        {
            return ".NET does not share one OpenSSL context between this certificate's handshakes";
        }

        if (tickets is { } expected && native2.GetTickets(reached) != (nuint)expected)
        {
            return $"the shared context issues {native2.GetTickets(reached)} session tickets after setting {expected}";
        }

        return IsPreferred(policy, second.Server.NegotiatedCipherSuite)
            ? null
            : $"the handshake after setting the order negotiated {second.Server.NegotiatedCipherSuite}";
    }

    /// <summary>A client and server handshake in process; the server uses <paramref name="template"/>'s
    /// certificate, protocols and ALPN (client certificates are not asked for: they do not change the
    /// shared context).</summary>
    private static async Task<Pair> HandshakeAsync(SslServerAuthenticationOptions template)
    {
        var (serverEnd, clientEnd) = MemoryDuplexStream.CreatePair();
        var server = new SslStream(serverEnd, leaveInnerStreamOpen: false);
        var client = new SslStream(clientEnd, leaveInnerStreamOpen: false);
        var pair = new Pair(server, client);
        try
        {
            var serverOptions = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = template.ServerCertificateContext,
                EnabledSslProtocols = template.EnabledSslProtocols,
                ApplicationProtocols = template.ApplicationProtocols,
                CertificateRevocationCheckMode = template.CertificateRevocationCheckMode,
                AllowRenegotiation = template.AllowRenegotiation,
                AllowTlsResume = template.AllowTlsResume,
            };
            var clientOptions = new SslClientAuthenticationOptions
            {
                // No name: .NET's client caches sessions by name, and this one must not be remembered.
                TargetHost = "",
                EnabledSslProtocols = template.EnabledSslProtocols,
                ApplicationProtocols = template.ApplicationProtocols is { Count: > 0 } alpn ? [alpn[0]] : null,
#pragma warning disable CA5359 // Both ends are this process; the certificate is the server's own.
                RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
            };
            await Task.WhenAll(server.AuthenticateAsServerAsync(serverOptions), client.AuthenticateAsClientAsync(clientOptions)).ConfigureAwait(false);
            return pair;
        }
        catch
        {
            await pair.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private nint WithSsl(Native native, SslStream stream, Func<nint, nint> use)
    {
        if (native.ContextField.GetValue(stream) is not SafeHandle handle || handle.GetType() != native.HandleType)
        {
            Fail("the stream's TLS context is not an OpenSSL handle");
            return 0;
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var ssl = handle.DangerousGetHandle();
            return ssl == 0 ? 0 : use(ssl);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private void Fail(string reason) => Interlocked.CompareExchange(ref _unavailable, reason, null);

    private Native? Initialize(SslStream stream)
    {
        lock (_initLock)
        {
            if (!_initialized)
            {
                _native = Load(stream, out var reason);
                if (reason is not null)
                {
                    Fail(reason);
                }

                _initialized = true;
            }

            return _native;
        }
    }

    private unsafe Native? Load(SslStream stream, out string? reason)
    {
        reason = null;
        if (!OperatingSystem.IsLinux())
        {
            reason = "SslStream does not use OpenSSL on this operating system";
            return null;
        }

        var field = typeof(SslStream).GetField(_contextField, BindingFlags.Instance | BindingFlags.NonPublic);
        if (field is null || !typeof(SafeHandle).IsAssignableFrom(field.FieldType)
            || field.GetValue(stream) is not SafeHandle handle || handle.GetType().Name != "SafeSslHandle")
        {
            reason = $"SslStream.{_contextField} is not an OpenSSL SafeSslHandle on this runtime";
            return null;
        }

        var libraries = OpenSslBufferRelease.LoadedLibraries(_libraryName);
        if (libraries.Count != 1)
        {
            reason = libraries.Count == 0 ? $"no {_libraryName}* is loaded in this process" : $"several TLS libraries are loaded: {string.Join(", ", libraries)}";
            return null;
        }

        // dlopen of a path already mapped returns that library: no second copy is loaded.
        if (!NativeLibrary.TryLoad(libraries[0], out var library)
            || !NativeLibrary.TryGetExport(library, "SSL_is_server", out var isServer)
            || !NativeLibrary.TryGetExport(library, "SSL_get_SSL_CTX", out var getContext)
            || !NativeLibrary.TryGetExport(library, "SSL_CTX_set_ciphersuites", out var setSuites)
            || !NativeLibrary.TryGetExport(library, "SSL_CTX_set_cipher_list", out var setCipherList)
            || !NativeLibrary.TryGetExport(library, "SSL_CTX_set_num_tickets", out var setTickets)
            || !NativeLibrary.TryGetExport(library, "SSL_CTX_get_num_tickets", out var getTickets))
        {
            reason = $"{libraries[0]} does not export SSL_is_server, SSL_get_SSL_CTX, SSL_CTX_set_ciphersuites, SSL_CTX_set_cipher_list and SSL_CTX_set/get_num_tickets";
            return null;
        }

        return new Native(field, handle.GetType(),
            (delegate* unmanaged[Cdecl]<nint, int>)isServer,
            (delegate* unmanaged[Cdecl]<nint, nint>)getContext,
            (delegate* unmanaged[Cdecl]<nint, byte*, int>)setSuites,
            (delegate* unmanaged[Cdecl]<nint, byte*, int>)setCipherList,
            (delegate* unmanaged[Cdecl]<nint, nuint, int>)setTickets,
            (delegate* unmanaged[Cdecl]<nint, nuint>)getTickets);
    }

    /// <summary>A client and a server stream handshaken with each other.</summary>
    private sealed class Pair(SslStream server, SslStream client) : IAsyncDisposable
    {
        public SslStream Server { get; } = server;

        public async ValueTask DisposeAsync()
        {
            await client.DisposeAsync().ConfigureAwait(false);
            await Server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The OpenSSL entry points, called through unmanaged function pointers.</summary>
    private sealed unsafe class Native(
        FieldInfo contextField,
        Type handleType,
        delegate* unmanaged[Cdecl]<nint, int> isServer,
        delegate* unmanaged[Cdecl]<nint, nint> getContext,
        delegate* unmanaged[Cdecl]<nint, byte*, int> setSuites,
        delegate* unmanaged[Cdecl]<nint, byte*, int> setCipherList,
        delegate* unmanaged[Cdecl]<nint, nuint, int> setTickets,
        delegate* unmanaged[Cdecl]<nint, nuint> getTickets)
    {
        public FieldInfo ContextField { get; } = contextField;

        public Type HandleType { get; } = handleType;

        public int IsServer(nint ssl) => isServer(ssl);

        public nint GetContext(nint ssl) => getContext(ssl);

        public bool SetSuites(nint context, string suites) => Call(setSuites, context, suites);

        public bool SetCipherList(nint context, string list) => Call(setCipherList, context, list);

        public bool SetTickets(nint context, nuint count) => setTickets(context, count) == 1;

        public nuint GetTickets(nint context) => getTickets(context);

        private static bool Call(delegate* unmanaged[Cdecl]<nint, byte*, int> function, nint context, string text)
        {
            var bytes = System.Text.Encoding.ASCII.GetBytes(text + "\0");
            fixed (byte* p = bytes)
            {
                return function(context, p) == 1;
            }
        }
    }
}
