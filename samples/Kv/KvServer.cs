using System.Diagnostics.Metrics;
using Sockeye.Samples.Kv.PubSub;
using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv;

/// <summary>The state every connection shares: the keyspace, the pub/sub hub, the limits, the
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

    public KvServer(RespLimits limits, int maxClients)
    {
        Limits = limits;
        MaxClients = maxClients;
        _commands = _meter.CreateCounter<long>("kv.commands", "{command}", "Commands executed");
        _expired = _meter.CreateCounter<long>("kv.keys.expired", "{key}", "Keys deleted by the active expiry sweep");
        _meter.CreateObservableGauge("kv.keys", () => Keyspace.Count, "{key}", "Keys in the keyspace (some may be expired and not yet swept)");
        _meter.CreateObservableGauge("kv.clients", () => ConnectedClients, "{client}", "Connected clients");
        _meter.CreateObservableGauge("kv.pubsub.channels", () => Hub.ChannelCount, "{channel}", "Channels with subscribers");
        _sweep = new Timer(_ => Sweep(), null, SweepInterval, SweepInterval);
    }

    /// <summary>Held by whoever reads or changes the keyspace or the pub/sub hub.</summary>
    public Lock Lock { get; } = new();

    /// <summary>The one database.</summary>
    public Keyspace Keyspace { get; } = new();

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

    /// <summary>Deletes due keys now (the timer calls it; tests may too).</summary>
    public int Sweep()
    {
        int deleted;
        lock (Lock)
        {
            deleted = Keyspace.SweepExpired(Keyspace.Now, SweepLimit);
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
