using System.Diagnostics.Metrics;
using Sockeye.Samples.Kv.PubSub;
using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv;

/// <summary>The state every connection shares: the 16 databases, the pub/sub hub, the limits, the
/// active-expiry sweep and the sample's own metrics (meter <see cref="MeterName"/>).</summary>
internal sealed class KvServer : IDisposable
{
    /// <summary>The meter of the sample's own instruments (commands, keys, expired keys).</summary>
    public const string MeterName = "Sockeye.Samples.Kv";

    // How often the active sweep runs, and how many keys one sweep may delete while holding the lock
    // (Redis's active expiry runs 10 times a second too, with a time budget).
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(100);
    private const int SweepLimit = 20_000;

    private readonly Timer _sweep;
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _commands;
    private readonly Counter<long> _expired;
    private int _clients;
    private int _sweepFirst;

    public KvServer(RespLimits limits, int maxClients)
    {
        Limits = limits;
        MaxClients = maxClients;
        _commands = _meter.CreateCounter<long>("kv.commands", "{command}", "Commands executed");
        _expired = _meter.CreateCounter<long>("kv.keys.expired", "{key}", "Keys deleted by the active expiry sweep");
        _meter.CreateObservableGauge("kv.keys", () => TotalKeys, "{key}", "Keys in the keyspace (some may be expired and not yet swept)");
        _meter.CreateObservableGauge("kv.clients", () => ConnectedClients, "{client}", "Connected clients");
        _meter.CreateObservableGauge("kv.pubsub.channels", () => Hub.ChannelCount, "{channel}", "Channels with subscribers");
        _sweep = new Timer(_ => Sweep(), null, SweepInterval, SweepInterval);
    }

    /// <summary>Held by whoever reads or changes the keyspace or the pub/sub hub.</summary>
    public Lock Lock { get; } = new();

    /// <summary>How many databases there are (SELECT 0 to 15), as Redis's default <c>databases 16</c>.</summary>
    public const int DatabaseCount = 16;

    /// <summary>The databases, by SELECT index; all behind <see cref="Lock"/> (one lock keeps MOVE-free
    /// Redis semantics simple and costs a pipelined batch one acquisition, whichever db it uses).</summary>
    public IReadOnlyList<Keyspace> Databases { get; } = Enumerable.Range(0, DatabaseCount).Select(_ => new Keyspace()).ToArray();

    /// <summary>Keys in every database (some may be expired and not yet swept).</summary>
    public int TotalKeys => Databases.Sum(db => db.Count);

    /// <summary>Channels and patterns (used under the keyspace lock).</summary>
    public PubSubHub Hub { get; } = new();

    /// <summary>Request bounds (<c>--max-bulk</c>, <c>--max-array</c>).</summary>
    public RespLimits Limits { get; }

    /// <summary>The connection cap, for CONFIG GET maxclients.</summary>
    public int MaxClients { get; }

    /// <summary>The port served, for INFO and CONFIG GET (set once the server is bound).</summary>
    public int Port { get; set; }

    /// <summary>When the server started, for INFO's uptime.</summary>
    public DateTime StartedAt { get; } = DateTime.UtcNow;

    /// <summary>Clients connected now.</summary>
    public int ConnectedClients => Volatile.Read(ref _clients);

    /// <summary>A client connected (+1) or left (−1).</summary>
    public void CountClient(int delta) => Interlocked.Add(ref _clients, delta);

    /// <summary>Counts <paramref name="count"/> executed commands (once per read, not per command).</summary>
    public void CountCommands(int count) => _commands.Add(count);

    /// <summary>Deletes due keys now, in every database (the timer calls it; tests may too).</summary>
    /// <remarks>The databases share one limit per sweep; the first one looked at turns each time, so a
    /// backlog in one cannot keep another's due keys waiting sweep after sweep.</remarks>
    public int Sweep()
    {
        var deleted = 0;
        lock (Lock)
        {
            var now = Keyspace.Now;
            _sweepFirst = (_sweepFirst + 1) % DatabaseCount;
            for (var i = 0; i < DatabaseCount && deleted < SweepLimit; i++)
            {
                deleted += Databases[(_sweepFirst + i) % DatabaseCount].SweepExpired(now, SweepLimit - deleted);
            }
        }

        if (deleted > 0)
        {
            _expired.Add(deleted);
        }

        return deleted;
    }

    public void Dispose()
    {
        _sweep.Dispose();
        _meter.Dispose();
    }
}
