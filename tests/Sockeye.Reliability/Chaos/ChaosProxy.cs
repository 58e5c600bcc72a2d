using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Reliability.Chaos;

/// <summary>What the chaos proxy does to the connections it carries; every choice is drawn from
/// <see cref="Seed"/>.</summary>
/// <param name="Seed">The seed for every random choice: the same seed gives the same plan per connection (in accept order).</param>
/// <param name="MaxPiece">Each forwarded read is split into sends of 1 to this many bytes.</param>
/// <param name="DelayProbability">The chance that a piece waits 0 to <paramref name="MaxDelayMs"/> ms first.</param>
/// <param name="MaxDelayMs">The longest such delay.</param>
/// <param name="StallProbability">The chance that a piece waits <paramref name="StallMs"/> first (a stalled path).</param>
/// <param name="StallMs">How long a stall lasts.</param>
/// <param name="ResetProbability">The chance that a connection is reset (RST to both ends) part-way.</param>
/// <param name="ResetWithinBytes">A reset connection is reset once 1 to this many bytes (both directions together) were forwarded.</param>
internal sealed record ChaosSettings(
    int Seed,
    int MaxPiece = 64,
    double DelayProbability = 0.05,
    int MaxDelayMs = 2,
    double StallProbability = 0.002,
    int StallMs = 200,
    double ResetProbability = 0.15,
    int ResetWithinBytes = 2048);

/// <summary>The plan for one connection, fixed when it is accepted.</summary>
/// <param name="Seed">The seed of this connection's own choices (piece sizes, delays, stalls).</param>
/// <param name="ResetAfterBytes">After how many forwarded bytes it is reset; <see langword="null"/>: never.</param>
internal readonly record struct ChaosPlan(int Seed, long? ResetAfterBytes);

/// <summary>
/// A user-space TCP proxy for fault tests, since kernel netem is not available here: it accepts on
/// loopback, connects to the upstream server, and forwards both ways while splitting every write
/// into tiny pieces, delaying some, stalling a few, and resetting a planned share of connections
/// part-way through. Half-closes (FIN) are forwarded; an error on one side resets the other.
/// </summary>
internal sealed class ChaosProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly IPEndPoint _upstream;
    private readonly ChaosSettings _settings;
    private readonly Random _planner;
    private readonly ConcurrentQueue<ChaosConnection> _connections = new();
    private readonly ConcurrentBag<Task> _pumps = [];
    private readonly Task _acceptLoop;

    public ChaosProxy(IPEndPoint upstream, ChaosSettings settings)
    {
        _upstream = upstream;
        _settings = settings;
        _planner = new Random(settings.Seed);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Where clients connect.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Every connection carried so far, in accept order.</summary>
    public IReadOnlyCollection<ChaosConnection> Connections => _connections;

    /// <summary>The plans the first <paramref name="count"/> connections get under <paramref name="settings"/>.</summary>
    public static ChaosPlan[] Plan(ChaosSettings settings, int count)
    {
        var planner = new Random(settings.Seed);
        return Enumerable.Range(0, count).Select(_ => NextPlan(planner, settings)).ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _acceptLoop;
        foreach (var connection in _connections)
        {
            connection.Reset();
        }

        await Task.WhenAll(_pumps);
    }

    private static ChaosPlan NextPlan(Random planner, ChaosSettings settings)
    {
        var seed = planner.Next();
        var reset = planner.NextDouble() < settings.ResetProbability;
        var after = planner.Next(1, settings.ResetWithinBytes + 1);
        return new ChaosPlan(seed, reset ? after : null);
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }

            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await upstream.ConnectAsync(_upstream);
            }
            catch (SocketException)
            {
                Abort(client);
                upstream.Dispose();
                continue;
            }

            var connection = new ChaosConnection((IPEndPoint)client.RemoteEndPoint!, NextPlan(_planner, _settings), client, upstream);
            _connections.Enqueue(connection);
            _pumps.Add(connection.RunAsync(_settings));
        }
    }

    internal static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        socket.Dispose();
    }
}

/// <summary>One proxied connection: its client, its plan, and what the proxy did to it.</summary>
internal sealed class ChaosConnection(IPEndPoint client, ChaosPlan plan, Socket downstream, Socket upstream)
{
    private long _forwarded;
    private int _reset;
    private long _pieces;

    /// <summary>The client's address and port, as the client sees its own local endpoint.</summary>
    public IPEndPoint Client { get; } = client;

    public ChaosPlan Plan { get; } = plan;

    /// <summary>Whether the proxy reset this connection (by plan, or because one side failed).</summary>
    public bool WasReset => Volatile.Read(ref _reset) != 0;

    /// <summary>Whether the reset was the plan's, rather than a reaction to an error on one side.</summary>
    public bool ResetByPlan { get; private set; }

    /// <summary>Bytes forwarded in both directions.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    /// <summary>Sends made, in both directions.</summary>
    public long Pieces => Interlocked.Read(ref _pieces);

    /// <summary>Both directions, until each has forwarded its FIN or the connection was reset.</summary>
    public async Task RunAsync(ChaosSettings settings)
    {
        var random = new Random(Plan.Seed);
        var up = PumpAsync(downstream, upstream, new Random(random.Next()), settings);
        var down = PumpAsync(upstream, downstream, new Random(random.Next()), settings);
        await Task.WhenAll(up, down);
        downstream.Dispose();
        upstream.Dispose();
    }

    /// <summary>RST to both ends; idempotent.</summary>
    public void Reset()
    {
        if (Interlocked.Exchange(ref _reset, 1) == 0)
        {
            ChaosProxy.Abort(downstream);
            ChaosProxy.Abort(upstream);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, Random random, ChaosSettings settings)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                for (var offset = 0; offset < read;)
                {
                    var piece = Math.Min(random.Next(1, settings.MaxPiece + 1), read - offset);
                    if (random.NextDouble() < settings.StallProbability)
                    {
                        await Task.Delay(settings.StallMs);
                    }
                    else if (random.NextDouble() < settings.DelayProbability)
                    {
                        await Task.Delay(random.Next(0, settings.MaxDelayMs + 1));
                    }

                    if (Plan.ResetAfterBytes is { } after && Interlocked.Add(ref _forwarded, piece) >= after)
                    {
                        ResetByPlan = true;
                        Reset();
                        return;
                    }

                    if (Plan.ResetAfterBytes is null)
                    {
                        Interlocked.Add(ref _forwarded, piece);
                    }

                    var chunk = buffer.AsMemory(offset, piece);
                    while (!chunk.IsEmpty)
                    {
                        chunk = chunk[await to.SendAsync(chunk, SocketFlags.None)..];
                    }

                    Interlocked.Increment(ref _pieces);
                    offset += piece;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // One side failed or the other pump reset the pair: make sure both ends know.
            Reset();
        }
    }
}
