using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;

namespace Sockeye.Security.Internal;

/// <summary>
/// The server's certificates, loaded once into <see cref="SslStreamCertificateContext"/>s (the chain is
/// built once, not per handshake) and swapped as a whole on reload, so a handshake sees either the old
/// set or the new one. Watches the files when <see cref="TlsOptions.ReloadOnFileChange"/> is on.
/// </summary>
/// <remarks>Safe for concurrent use: handshakes read the current snapshot without locks; reloads are
/// serialized by a lock.</remarks>
internal sealed class CertificateStore : IDisposable
{
    // Editors and deploy tools write a file in several steps: wait for them to finish before reading.
    private static readonly TimeSpan ReloadDelay = TimeSpan.FromMilliseconds(200);

    private readonly TlsOptions _options;
    private readonly ILogger _logger;
    private readonly List<SslApplicationProtocol>? _alpn;
    private readonly object _reloadLock = new();
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly ITimer? _reloadTimer;
    private Snapshot _current;
    private long _reloads;
    private int _releaseUnavailableLogged;
    private int _cipherFallbackLogged;
    private int _ticketCountLogged;

    public CertificateStore(TlsOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _alpn = options.ApplicationProtocols.Count > 0 ? [.. options.ApplicationProtocols] : null;
        _current = Load(options, _alpn);
        LogCipherFallback(_current);
        if (options.ReloadOnFileChange)
        {
            _reloadTimer = TimeProvider.System.CreateTimer(static s => ((CertificateStore)s!).Reload(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            Watch();
        }
    }

    /// <summary>How many reloads succeeded since the start.</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>Reads every certificate again; on any failure keeps the current set and logs why.</summary>
    /// <returns>Whether the new set is in use.</returns>
    public bool Reload()
    {
        lock (_reloadLock)
        {
            try
            {
                var next = Load(_options, _alpn);
                LogCipherFallback(next);
                var previous = Volatile.Read(ref _current);
                Volatile.Write(ref _current, next);
                ReleasePins(previous);
                Interlocked.Increment(ref _reloads);
                SockeyeLog.TlsCertificatesReloaded(_logger, next.Count);
                return true;
            }
            catch (IOException ex)
            {
                SockeyeLog.TlsCertificateReloadFailed(_logger, ex.Message);
                return false;
            }
        }
    }

    /// <summary>The handshake options for a client that asked for <paramref name="serverName"/>, or
    /// <see langword="null"/> when no certificate serves it.</summary>
    public SslServerAuthenticationOptions? CreateOptions(string? serverName, RemoteCertificateValidationCallback? validation)
    {
        var snapshot = Volatile.Read(ref _current);
        var context = snapshot.Select(serverName);
        if (context is null)
        {
            return null;
        }

        var chosen = BaseOptions(_options, _alpn, context);
        chosen.ClientCertificateRequired = _options.ClientCertificateMode != ClientCertificateMode.None;
        chosen.RemoteCertificateValidationCallback = validation;
        if (snapshot.CipherFallback is { } fallback)
        {
            chosen.CipherSuitesPolicy = fallback;
        }

        return chosen;
    }

    /// <summary>Why the cipher policy is applied through .NET's <see cref="CipherSuitesPolicy"/> (without
    /// resumption) rather than on the shared OpenSSL context; <see langword="null"/> when it is not.</summary>
    public string? CipherFallbackReason => Volatile.Read(ref _current).CipherFallbackReason;

    /// <summary>What every handshake of this listener shares: the certificate, protocols, ALPN and
    /// resumption. The OpenSSL context .NET shares between handshakes depends on these only.</summary>
    private static SslServerAuthenticationOptions BaseOptions(TlsOptions options, List<SslApplicationProtocol>? alpn, SslStreamCertificateContext context) => new()
    {
        ServerCertificateContext = context,
        EnabledSslProtocols = options.EnabledProtocols,
        ApplicationProtocols = alpn,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        AllowTlsResume = options.AllowSessionResumption,
    };

    private void LogCipherFallback(Snapshot snapshot)
    {
        if (snapshot.CipherFallbackReason is { } reason && Interlocked.Exchange(ref _cipherFallbackLogged, 1) == 0)
        {
            SockeyeLog.TlsCipherOrderFallback(_logger, _options.CipherPolicy, reason);
        }

        if (snapshot.TicketCountReason is { } ticketReason && Interlocked.Exchange(ref _ticketCountLogged, 1) == 0)
        {
            SockeyeLog.TlsTicketCountUnchanged(_logger, OpenSslCipherOrder.TicketsPerHandshake, ticketReason);
        }
    }

    /// <summary>Why the TLS 1.3 ticket count is OpenSSL's default rather than one per handshake;
    /// <see langword="null"/> when it is one (or resumption is off).</summary>
    public string? TicketCountReason => Volatile.Read(ref _current).TicketCountReason;

    /// <summary>Lets OpenSSL free <paramref name="stream"/>'s record buffers between records when
    /// <see cref="TlsOptions.ReleaseIdleBuffers"/> is on; logs once when the runtime does not allow it.</summary>
    /// <returns>Whether the buffers will be released.</returns>
    public bool ReleaseIdleBuffers(SslStream stream)
    {
        if (!_options.ReleaseIdleBuffers)
        {
            return false;
        }

        var release = _options.BufferRelease;
        if (release.TryEnable(stream))
        {
            return true;
        }

        if (release.UnavailableReason is { } reason && Interlocked.Exchange(ref _releaseUnavailableLogged, 1) == 0)
        {
            SockeyeLog.TlsBufferReleaseUnavailable(_logger, reason);
        }

        return false;
    }

    // Handshakes already running on the old contexts hold their own references; new ones see the new set.
    private static void ReleasePins(Snapshot snapshot)
    {
        foreach (var pin in snapshot.Pins)
        {
            _ = pin.DisposeAsync().AsTask();
        }

        snapshot.Pins.Clear();
    }

    public void Dispose()
    {
        ReleasePins(Volatile.Read(ref _current));
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _reloadTimer?.Dispose();
    }

    private void Watch()
    {
        var files = _options.ServerCertificates.Values.Append(_options.Certificate)
            .SelectMany(c => c?.Files ?? [])
            .Select(Path.GetFullPath)
            .ToHashSet(StringComparer.Ordinal);
        foreach (var directory in files.Select(f => Path.GetDirectoryName(f)!).Distinct(StringComparer.Ordinal))
        {
            var watcher = new FileSystemWatcher(directory)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            void OnChange(object? sender, FileSystemEventArgs e)
            {
                if (files.Contains(e.FullPath) || (e is RenamedEventArgs r && files.Contains(r.OldFullPath)))
                {
                    _reloadTimer!.Change(ReloadDelay, Timeout.InfiniteTimeSpan); // restarts the wait on every event
                }
            }

            watcher.Changed += OnChange;
            watcher.Created += OnChange;
            watcher.Renamed += (s, e) => OnChange(s, e);
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    private static Snapshot Load(TlsOptions options, List<SslApplicationProtocol>? alpn)
    {
        var byName = new Dictionary<string, SslStreamCertificateContext>(StringComparer.OrdinalIgnoreCase);
        var byWildcard = new Dictionary<string, SslStreamCertificateContext>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, certificate) in options.ServerCertificates)
        {
            var context = LoadContext(certificate);
            if (name.StartsWith("*.", StringComparison.Ordinal))
            {
                byWildcard[name[1..]] = context; // ".example.com"
            }
            else
            {
                byName[name] = context;
            }
        }

        var fallback = options.Certificate is null ? null : LoadContext(options.Certificate);
        var snapshot = new Snapshot(fallback, byName, byWildcard);

        // One TLS 1.3 ticket per handshake, as Go sends, where OpenSSL would send two; only where tickets
        // are issued at all (resumption on). Set with the cipher order on the shared OpenSSL context.
        int? tickets = options.AllowSessionResumption ? OpenSslCipherOrder.TicketsPerHandshake : null;
        if (options.CipherPolicy != TlsCipherPolicy.Default || tickets is not null)
        {
            // Before the snapshot is published: no handshake can be using these contexts yet.
            foreach (var context in snapshot.Contexts)
            {
                var reason = options.CipherOrder.TryApply(BaseOptions(options, alpn, context), options.CipherPolicy, tickets, out var pin);
                if (pin is not null)
                {
                    snapshot.Pins.Add(pin);
                }

                if (reason is null)
                {
                    continue;
                }

                if (options.CipherPolicy == TlsCipherPolicy.Default)
                {
                    // Only the ticket count is missing: .NET's defaults stay, nothing to fall back to.
                    snapshot.TicketCountReason ??= reason;
                    continue;
                }

                snapshot.CipherFallbackReason = reason;
                snapshot.CipherFallback = OperatingSystem.IsWindows() ? null : OpenSslCipherOrder.Fallback(options.CipherPolicy);
                break;
            }
        }

        return snapshot;
    }

    private static SslStreamCertificateContext LoadContext(TlsCertificate source)
    {
        try
        {
            X509Certificate2 leaf;
            var chain = new X509Certificate2Collection();
            if (source.Certificate is { } given)
            {
                leaf = given;
            }
            else if (source.IsPfx)
            {
                var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(source.CertificatePath!, source.Password);
                leaf = all.FirstOrDefault(c => c.HasPrivateKey)
                    ?? throw new CryptographicException("the file holds no certificate with a private key");
                chain.AddRange(all.Where(c => !ReferenceEquals(c, leaf)).ToArray());
            }
            else
            {
                var keyPath = source.KeyPath ?? source.CertificatePath!;
                leaf = source.Password is null
                    ? X509Certificate2.CreateFromPemFile(source.CertificatePath!, keyPath)
                    : X509Certificate2.CreateFromEncryptedPemFile(source.CertificatePath!, source.Password, keyPath);
                var all = new X509Certificate2Collection();
                all.ImportFromPemFile(source.CertificatePath!);
                chain.AddRange(all.Where(c => c.Thumbprint != leaf.Thumbprint).ToArray());
            }

            // offline: the chain is built from what we have; no handshake waits on a network fetch.
            return SslStreamCertificateContext.Create(leaf, chain, offline: true);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new IOException($"cannot load TLS certificate {source}: {ex.Message}", ex);
        }
    }

    /// <summary>One consistent set of certificates.</summary>
    private sealed class Snapshot(
        SslStreamCertificateContext? fallback,
        Dictionary<string, SslStreamCertificateContext> byName,
        Dictionary<string, SslStreamCertificateContext> byWildcard)
    {
        public int Count => byName.Count + byWildcard.Count + (fallback is null ? 0 : 1);

        /// <summary>Every certificate context in the set, once each.</summary>
        public IEnumerable<SslStreamCertificateContext> Contexts =>
            byName.Values.Concat(byWildcard.Values).Append(fallback).OfType<SslStreamCertificateContext>().Distinct();

        /// <summary>Set when the cipher policy could not be put on the shared OpenSSL contexts: .NET's
        /// policy object that every handshake then carries instead.</summary>
        public CipherSuitesPolicy? CipherFallback { get; set; }

        /// <summary>Why <see cref="CipherFallback"/> is needed.</summary>
        public string? CipherFallbackReason { get; set; }

        /// <summary>What keeps the tuned OpenSSL contexts of this set in use, so .NET's context cache never
        /// evicts and rebuilds them without the cipher order and ticket count (see
        /// <see cref="OpenSslCipherOrder.TryApply"/>); disposed once another set replaces this one.</summary>
        public List<IAsyncDisposable> Pins { get; } = [];

        /// <summary>Why the TLS 1.3 ticket count could not be set to
        /// <see cref="OpenSslCipherOrder.TicketsPerHandshake"/> (OpenSSL's default then applies).</summary>
        public string? TicketCountReason { get; set; }

        public SslStreamCertificateContext? Select(string? serverName)
        {
            if (!string.IsNullOrEmpty(serverName))
            {
                if (byName.TryGetValue(serverName, out var exact))
                {
                    return exact;
                }

                var dot = serverName.IndexOf('.', StringComparison.Ordinal);
                if (dot > 0 && byWildcard.TryGetValue(serverName[dot..], out var wildcard))
                {
                    return wildcard;
                }
            }

            return fallback;
        }
    }
}

/// <summary>Thrown when a certificate cannot be chosen for a handshake.</summary>
internal sealed class UnknownServerNameException(string? serverName)
    : AuthenticationException($"no certificate serves the server name '{serverName}' and there is no default certificate");
