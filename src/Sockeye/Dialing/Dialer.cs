using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;

namespace Sockeye.Dialing;

/// <summary>
/// Opens client connections, as Go's <c>net.Dialer</c>: resolves the host, tries each address in turn
/// with a per-attempt timeout inside an overall <see cref="ConnectTimeout"/>, and returns a
/// <see cref="Connection"/> with the same pipes and deadlines as a server-side connection. With a
/// <see cref="Reconnect"/> policy, failed dials are retried with exponential back-off and jitter.
/// </summary>
/// <example>
/// <code>
/// var dialer = new Dialer { ConnectTimeout = TimeSpan.FromSeconds(5) };
/// await using var connection = await dialer.DialAsync("localhost:7000");
/// await connection.Output.WriteAsync("ping\n"u8.ToArray());
/// var reply = await connection.Input.ReadAsync();
/// </code>
/// </example>
/// <remarks>
/// <para>Errors are distinct types, each carrying the target: <see cref="ConnectionRefusedException"/>,
/// <see cref="HostNotFoundException"/>, <see cref="ConnectTimeoutException"/>, and
/// <see cref="DialException"/> for the rest. Cancelling the caller's token throws
/// <see cref="OperationCanceledException"/> instead.</para>
/// <para>The returned connection belongs to the caller, who must dispose it. Its
/// <see cref="Connection.ShutdownRequested"/> never fires: no server is draining it.</para>
/// <para>Timeouts and deadlines work as on a server's connections: <see cref="IdleTimeout"/>,
/// <see cref="ReadTimeout"/> and <see cref="WriteTimeout"/> are every connection's defaults, and each
/// connection can override them or set Go-style deadlines (<see cref="Connection.SetReadDeadline"/>).
/// They are checked by one timer per dialer, every <see cref="TimeoutResolution"/> on
/// <see cref="TimeProvider"/>, which runs only while a connection has something timed; a connection
/// gives its place back when it is disposed.</para>
/// <para>Configure once, then use from any thread: dialing does not change the dialer's settings.</para>
/// </remarks>
public sealed partial class Dialer
{
    // Go's net.Dialer never gives an address less than this of the remaining time (partialDeadline).
    private static readonly TimeSpan SaneMinimumAttempt = TimeSpan.FromSeconds(2);

    // Linux's IP_BIND_ADDRESS_NO_PORT (IPPROTO_IP level).
    private const int IpBindAddressNoPort = 24;

    /// <summary>The longest a whole dial may take: resolving the name and trying every address.</summary>
    /// <remarks>Default: 30 seconds (Go's HTTP transport). Use <see cref="Timeout.InfiniteTimeSpan"/> to wait as
    /// long as the kernel keeps retrying SYNs (about two minutes on Linux). With a
    /// <see cref="Reconnect"/> policy, each dial gets its own timeout.</remarks>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest one address may take to connect before the next address is tried;
    /// <see langword="null"/> shares the remaining time among the addresses left.</summary>
    /// <remarks>Default: <see langword="null"/>, as Go: each address gets the time left divided by the
    /// addresses left, but at least 2 seconds (or all that is left). A short value moves on quickly from
    /// an address that drops SYNs; too short gives up on a slow but working one.</remarks>
    public TimeSpan? AttemptTimeout { get; init; }

    /// <summary>Retries failed dials; <see langword="null"/> dials once.</summary>
    /// <remarks>Default: <see langword="null"/>.</remarks>
    public ReconnectPolicy? Reconnect { get; init; }

    /// <summary>The local address to connect from (port chosen by the kernel); <see langword="null"/> lets
    /// the kernel choose.</summary>
    /// <remarks>Default: <see langword="null"/>. A load generator that opens more connections than one source
    /// address has ephemeral ports (~28,000) spreads them over several (127.0.0.2, 127.0.0.3, ... on loopback).
    /// Ignored for Unix domain sockets.</remarks>
    public IPAddress? LocalAddress { get; init; }

    /// <summary>Whether small writes are sent at once (<c>TCP_NODELAY</c>).</summary>
    /// <remarks>Default: <see langword="true"/>, as Go and as <see cref="TcpServerOptions.NoDelay"/>.</remarks>
    public bool NoDelay { get; init; } = true;

    /// <summary>TCP keep-alive idle time for the connection; <see langword="null"/> leaves keep-alive off.</summary>
    /// <remarks>Default: <see langword="null"/>. See <see cref="TcpServerOptions.KeepAlive"/> for the trade-off.</remarks>
    public TimeSpan? KeepAlive { get; init; }

    /// <summary>The clock for timeouts, deadlines and back-off delays; tests pass a fake one.</summary>
    /// <remarks>Default: <see cref="TimeProvider.System"/>.</remarks>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where retries are logged (at Debug); <see langword="null"/> logs nothing.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Connects to <paramref name="address"/>, written <c>host:port</c> (<c>localhost:7000</c>,
    /// <c>10.0.0.1:7000</c>, <c>[::1]:7000</c>).</summary>
    /// <param name="address">The host and port to connect to.</param>
    /// <param name="cancellationToken">Abandons the dial.</param>
    /// <returns>The connected connection, which the caller must dispose.</returns>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not <c>host:port</c>.</exception>
    /// <exception cref="DialException">The connection could not be made (see the subclasses).</exception>
    public Task<Connection> DialAsync(string address, CancellationToken cancellationToken = default)
    {
        var (host, port) = ParseAddress(address);
        return DialAsync(host, port, cancellationToken);
    }

    /// <summary>Connects to <paramref name="host"/> (a name or an IP address) on <paramref name="port"/>.</summary>
    /// <param name="host">A host name, resolved through DNS, or an IP address.</param>
    /// <param name="port">The port, 1 to 65535.</param>
    /// <param name="cancellationToken">Abandons the dial.</param>
    /// <returns>The connected connection, which the caller must dispose.</returns>
    /// <exception cref="DialException">The connection could not be made (see the subclasses).</exception>
    public Task<Connection> DialAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        var target = FormatTarget(host, port);
        return WithRetriesAsync(target, token => DialHostOnceAsync(target, host, port, WrapConnection, token), cancellationToken);
    }

    /// <summary>Connects to <paramref name="endPoint"/>: an <see cref="IPEndPoint"/>, a
    /// <see cref="DnsEndPoint"/>, or a <see cref="UnixDomainSocketEndPoint"/>.</summary>
    /// <param name="endPoint">Where to connect.</param>
    /// <param name="cancellationToken">Abandons the dial.</param>
    /// <returns>The connected connection, which the caller must dispose.</returns>
    /// <exception cref="DialException">The connection could not be made (see the subclasses).</exception>
    public Task<Connection> DialAsync(EndPoint endPoint, CancellationToken cancellationToken = default) =>
        DialEndPointAsync(endPoint, WrapConnection, cancellationToken);

    /// <summary>Connects to <paramref name="endPoint"/> exactly as
    /// <see cref="DialAsync(EndPoint, CancellationToken)"/> does — the same resolution, timeouts,
    /// retries, source address and errors — but returns the bare connected <see cref="Socket"/>, for
    /// code that does its own I/O (the <c>sockeye bench</c> load generator, whose per-round-trip cost
    /// must stay below the servers it drives). The caller owns and must dispose the socket; it has no
    /// timeouts or deadlines.</summary>
    /// <param name="endPoint">Where to connect: an <see cref="IPEndPoint"/>, <see cref="DnsEndPoint"/>
    /// or <see cref="UnixDomainSocketEndPoint"/>.</param>
    /// <param name="cancellationToken">Abandons the dial.</param>
    /// <returns>The connected socket.</returns>
    /// <exception cref="DialException">The connection could not be made (see the subclasses).</exception>
    public Task<Socket> DialSocketAsync(EndPoint endPoint, CancellationToken cancellationToken = default) =>
        DialEndPointAsync(endPoint, static socket => socket, cancellationToken);

    private Task<T> DialEndPointAsync<T>(EndPoint endPoint, Func<Socket, T> wrap, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        switch (endPoint)
        {
            case DnsEndPoint dns:
                ArgumentOutOfRangeException.ThrowIfLessThan(dns.Port, 1);
                var dnsTarget = FormatTarget(dns.Host, dns.Port);
                return WithRetriesAsync(dnsTarget, token => DialHostOnceAsync(dnsTarget, dns.Host, dns.Port, wrap, token), cancellationToken);
            case IPEndPoint ip:
                var target = ip.ToString();
                return WithRetriesAsync(target, token => DialAddressesOnceAsync(target, [ip.Address], ip.Port, wrap, token), cancellationToken);
            case UnixDomainSocketEndPoint unix:
                var path = unix.ToString();
                return WithRetriesAsync(path, token => DialAddressesOnceAsync(path, [], 0, wrap, token, unix), cancellationToken);
            default:
                throw new ArgumentException($"cannot dial a {endPoint.GetType().Name}; use an IPEndPoint, DnsEndPoint or UnixDomainSocketEndPoint", nameof(endPoint));
        }
    }

    // What a dial hands back by default: the socket inside a Connection with this dialer's timeouts.
    private Connection WrapConnection(Socket socket) => ClientPipes.Create(socket, Context);

    /// <summary>Tries <paramref name="addresses"/> in order on <paramref name="port"/> (the resolved form of a
    /// dial; tests use it to control the order).</summary>
    internal Task<Connection> DialAsync(IReadOnlyList<IPAddress> addresses, int port, CancellationToken cancellationToken = default)
    {
        var target = string.Join(",", addresses.Select(a => FormatTarget(a.ToString(), port)));
        return WithRetriesAsync(target, token => DialAddressesOnceAsync(target, addresses, port, WrapConnection, token), cancellationToken);
    }

    private async Task<T> WithRetriesAsync<T>(string target, Func<CancellationToken, Task<T>> dialOnce, CancellationToken cancellationToken)
    {
        var policy = Reconnect;
        policy?.Validate();
        ValidateTimeouts();
        var attempt = 1;
        while (true)
        {
            try
            {
                return await dialOnce(cancellationToken).ConfigureAwait(false);
            }
            catch (DialException ex) when (policy is not null && attempt < policy.MaxAttempts)
            {
                var delay = policy.DelayBefore(attempt);
                policy.OnRetry?.Invoke(ex, attempt, delay);
                SockeyeLog.DialRetrying(Logger, target, attempt, policy.MaxAttempts, delay, ex.Message);
                await Task.Delay(delay, TimeProvider, cancellationToken).ConfigureAwait(false);
                attempt++;
            }
            catch (DialException ex)
            {
                ex.Attempts = attempt;
                throw;
            }
        }
    }

    private ILogger Logger => LoggerFactory?.CreateLogger<Dialer>() ?? NullLogger<Dialer>.Instance;

    private async Task<T> DialHostOnceAsync<T>(string target, string host, int port, Func<Socket, T> wrap, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return await DialAddressesOnceAsync(target, [literal], port, wrap, cancellationToken).ConfigureAwait(false);
        }

        using var deadline = NewDeadline(ConnectTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        IPAddress[] addresses;
        try
        {
            // The OS resolver orders the answers (RFC 6724: IPv6 first where it works), and we keep its order.
            addresses = await Dns.GetHostAddressesAsync(host, AddressFamily.Unspecified, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ConnectTimeoutException($"dial {target}: resolving {host} took longer than {ConnectTimeout}", target, null) { Timeout = ConnectTimeout };
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData)
        {
            throw new HostNotFoundException($"dial {target}: no such host '{host}'", target, ex);
        }
        catch (SocketException ex)
        {
            throw new DialException($"dial {target}: resolving {host} failed: {ex.Message} ({ex.SocketErrorCode})", target, ex);
        }

        if (addresses.Length == 0)
        {
            throw new HostNotFoundException($"dial {target}: '{host}' has no addresses", target, null);
        }

        return await DialAddressesOnceAsync(target, addresses, port, wrap, cancellationToken, unix: null, deadline).ConfigureAwait(false);
    }

    /// <summary>One dial: each address in turn, each with its attempt timeout, all within the connect timeout.</summary>
    private async Task<T> DialAddressesOnceAsync<T>(
        string target, IReadOnlyList<IPAddress> addresses, int port, Func<Socket, T> wrap, CancellationToken cancellationToken,
        UnixDomainSocketEndPoint? unix = null, CancellationTokenSource? sharedDeadline = null)
    {
        using var ownDeadline = sharedDeadline is null ? NewDeadline(ConnectTimeout) : null;
        var deadline = sharedDeadline ?? ownDeadline!;
        var started = TimeProvider.GetTimestamp();
        var endPoints = unix is not null ? [unix] : addresses.Select(a => (EndPoint)new IPEndPoint(a, port)).ToArray();
        DialException? firstError = null;
        for (var i = 0; i < endPoints.Length; i++)
        {
            var remaining = ConnectTimeout == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan : ConnectTimeout - TimeProvider.GetElapsedTime(started);
            if (deadline.IsCancellationRequested || (remaining != Timeout.InfiniteTimeSpan && remaining <= TimeSpan.Zero))
            {
                break;
            }

            var attemptTimeout = AttemptTimeoutFor(remaining, endPoints.Length - i);
            try
            {
                return await ConnectAsync(target, endPoints[i], attemptTimeout, wrap, deadline.Token, cancellationToken).ConfigureAwait(false);
            }
            catch (DialException ex)
            {
                firstError ??= ex;
            }
        }

        if (deadline.IsCancellationRequested || firstError is null)
        {
            throw new ConnectTimeoutException($"dial {target}: not connected within {ConnectTimeout}", target, firstError) { Timeout = ConnectTimeout };
        }

        throw firstError;
    }

    private async Task<T> ConnectAsync<T>(string target, EndPoint endPoint, TimeSpan attemptTimeout, Func<Socket, T> wrap, CancellationToken deadline, CancellationToken cancellationToken)
    {
        var isUnix = endPoint.AddressFamily == AddressFamily.Unix;
        var socket = isUnix
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var attempt = NewDeadline(attemptTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline, attempt.Token);
        try
        {
            if (!isUnix && LocalAddress is { } local)
            {
                if (OperatingSystem.IsLinux())
                {
                    // IP_BIND_ADDRESS_NO_PORT: pick the port at connect(), so it need only be unique per
                    // destination, not per source address (what the bench's own dialer does too).
                    socket.SetRawSocketOption(0, IpBindAddressNoPort, BitConverter.GetBytes(1));
                }

                socket.Bind(new IPEndPoint(local, 0));
            }

            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
            if (!isUnix)
            {
                Configure(socket);
            }

            return wrap(socket);
        }
        catch (Exception ex)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw Translate(ex, target, endPoint, attempt.IsCancellationRequested ? attemptTimeout : ConnectTimeout);
        }
    }

    private static DialException Translate(Exception ex, string target, EndPoint endPoint, TimeSpan timeout)
    {
        var at = target == endPoint.ToString() ? "" : $" ({endPoint})";
        return ex switch
        {
            OperationCanceledException =>
                new ConnectTimeoutException($"dial {target}{at}: not connected within {timeout}", target, null) { EndPoint = endPoint, Timeout = timeout },
            SocketException { SocketErrorCode: SocketError.TimedOut } se =>
                new ConnectTimeoutException($"dial {target}{at}: the kernel gave up waiting for an answer", target, se) { EndPoint = endPoint, Timeout = timeout },

            // A Unix socket path with no file behind it is "nothing listening there", like a closed port.
            SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.AddressNotAvailable } se =>
                new ConnectionRefusedException($"dial {target}{at}: connection refused", target, se) { EndPoint = endPoint },
            SocketException se =>
                new DialException($"dial {target}{at}: {se.Message} ({se.SocketErrorCode})", target, se) { EndPoint = endPoint },
            _ => new DialException($"dial {target}{at}: {ex.Message}", target, ex) { EndPoint = endPoint },
        };
    }

    private void Configure(Socket socket)
    {
        socket.NoDelay = NoDelay;
        if (KeepAlive is { } keepAlive)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Math.Ceiling(keepAlive.TotalSeconds));
        }
    }

    private TimeSpan AttemptTimeoutFor(TimeSpan remaining, int addressesLeft)
    {
        if (AttemptTimeout is { } fixedTimeout)
        {
            return remaining == Timeout.InfiniteTimeSpan ? fixedTimeout : TimeSpan.FromTicks(Math.Min(fixedTimeout.Ticks, remaining.Ticks));
        }

        if (remaining == Timeout.InfiniteTimeSpan)
        {
            return Timeout.InfiniteTimeSpan;
        }

        var share = remaining / addressesLeft;
        return share >= SaneMinimumAttempt ? share : TimeSpan.FromTicks(Math.Min(SaneMinimumAttempt.Ticks, remaining.Ticks));
    }

    private CancellationTokenSource NewDeadline(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout, TimeProvider);

    private void ValidateTimeouts()
    {
        if ((ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > Timing.DurationText.Maximum) && ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException($"{nameof(ConnectTimeout)} must be positive and at most {Timing.DurationText.Format(Timing.DurationText.Maximum)}, or infinite, got {ConnectTimeout}", nameof(ConnectTimeout));
        }

        if (AttemptTimeout is { } attempt && (attempt <= TimeSpan.Zero || attempt > Timing.DurationText.Maximum))
        {
            throw new ArgumentException($"{nameof(AttemptTimeout)} must be positive and at most {Timing.DurationText.Format(Timing.DurationText.Maximum)}, got {attempt}", nameof(AttemptTimeout));
        }

        ValidateDeadlineOptions();
    }

    private static string FormatTarget(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";

    /// <summary>Splits <c>host:port</c> or <c>[v6]:port</c>, as Go's <c>net.SplitHostPort</c>.</summary>
    internal static (string Host, int Port) ParseAddress(string address)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || colon == address.Length - 1)
        {
            throw new ArgumentException($"'{address}' is not host:port", nameof(address));
        }

        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{address}' is not host:port (write an IPv6 address in brackets: [::1]:7000)", nameof(address));
        }

        if (!int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > IPEndPoint.MaxPort)
        {
            throw new ArgumentException($"'{address}' has no valid port (1 to 65535)", nameof(address));
        }

        return (host, port);
    }
}
