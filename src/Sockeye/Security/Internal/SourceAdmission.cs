using System.Collections.Concurrent;
using System.Net;
using System.Threading.RateLimiting;

namespace Sockeye.Security.Internal;

/// <summary>
/// The checks on a client's address, in order of cost: the deny and allow lists, the accept rates
/// (overall, then per address) and the per-address connection cap. Built once from the options; only
/// the checks that are configured run. Safe for concurrent use.
/// </summary>
/// <remarks>A refusal leaves no state behind: the cap's count is taken last, and only when every
/// other check passed, so it never has to be given back on a refusal.</remarks>
internal sealed class SourceAdmission : IDisposable
{
    private readonly IPNetwork[] _allowed;
    private readonly IPNetwork[] _denied;
    private readonly TokenBucketRateLimiter? _overallRate;
    private readonly PartitionedRateLimiter<IPAddress>? _rateByAddress;
    private readonly int _maxPerAddress;

    // Open connections by client address; an address leaves the map when its last connection ends.
    private readonly ConcurrentDictionary<IPAddress, int>? _openByAddress;

    public SourceAdmission(TcpServerOptions options)
    {
        _allowed = [.. options.AllowedSources];
        _denied = [.. options.DeniedSources];
        _maxPerAddress = options.MaxConnectionsPerIp;
        if (_maxPerAddress > 0)
        {
            _openByAddress = new ConcurrentDictionary<IPAddress, int>();
        }

        if (options.AcceptRate is { } overall)
        {
            _overallRate = new TokenBucketRateLimiter(BucketOptions(overall));
        }

        if (options.AcceptRatePerIp is { } perAddress)
        {
            var bucket = BucketOptions(perAddress);
            // The partitioned limiter refills every bucket from one shared timer and drops a bucket
            // once it is full again, so a scan from many addresses leaves no state behind for long.
            _rateByAddress = PartitionedRateLimiter.Create<IPAddress, IPAddress>(
                address => RateLimitPartition.GetTokenBucketLimiter(address, _ => bucket));
        }
    }

    /// <summary>Whether any check on the client's own address is configured.</summary>
    public bool ChecksAddress => _allowed.Length > 0 || _denied.Length > 0 || _rateByAddress is not null || _openByAddress is not null;

    /// <summary>Whether the cap counts open connections (which must then be given back).</summary>
    public bool CountsConnections => _openByAddress is not null;

    /// <summary>Takes one token from the server-wide accept rate; <see langword="false"/> when the
    /// rate is exceeded.</summary>
    public bool TryTakeOverallRate()
    {
        if (_overallRate is null)
        {
            return true;
        }

        using var lease = _overallRate.AttemptAcquire();
        return lease.IsAcquired;
    }

    /// <summary>Runs the address checks for <paramref name="address"/> and, when they pass, counts the
    /// connection against the cap.</summary>
    /// <returns><see langword="null"/> when admitted, or why not.</returns>
    public RefusalReason? TryAdmit(IPAddress address)
    {
        if (_denied.Length > 0 && Contains(_denied, address))
        {
            return RefusalReason.SourceDenied;
        }

        if (_allowed.Length > 0 && !Contains(_allowed, address))
        {
            return RefusalReason.SourceDenied;
        }

        if (_rateByAddress is not null)
        {
            using var lease = _rateByAddress.AttemptAcquire(address);
            if (!lease.IsAcquired)
            {
                return RefusalReason.AcceptRatePerIp;
            }
        }

        if (_openByAddress is not null && !TryCount(_openByAddress, address, _maxPerAddress))
        {
            return RefusalReason.MaxConnectionsPerIp;
        }

        return null;
    }

    /// <summary>A connection counted by <see cref="TryAdmit(IPAddress)"/> ended.</summary>
    public void Release(IPAddress address)
    {
        var open = _openByAddress!;
        while (open.TryGetValue(address, out var count))
        {
            if (count <= 1 ? open.TryRemove(KeyValuePair.Create(address, count)) : open.TryUpdate(address, count - 1, count))
            {
                return;
            }
        }
    }

    /// <summary>Connections open from <paramref name="address"/> (tests).</summary>
    public int OpenFrom(IPAddress address) => _openByAddress is not null && _openByAddress.TryGetValue(address, out var n) ? n : 0;

    /// <summary>The address as the lists and the cap see it: IPv4 clients of a dual-mode listener
    /// arrive as IPv4-mapped IPv6 addresses, and must match IPv4 ranges and share one count.</summary>
    public static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public static bool Contains(IPNetwork[] networks, IPAddress address)
    {
        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose()
    {
        _overallRate?.Dispose();
        _rateByAddress?.Dispose();
    }

    private static bool TryCount(ConcurrentDictionary<IPAddress, int> open, IPAddress address, int max)
    {
        while (true)
        {
            if (open.TryGetValue(address, out var count))
            {
                if (count >= max)
                {
                    return false;
                }

                if (open.TryUpdate(address, count + 1, count))
                {
                    return true;
                }
            }
            else if (open.TryAdd(address, 1))
            {
                return true;
            }
        }
    }

    /// <summary>A bucket of <see cref="AcceptRateLimit.Burst"/> tokens refilled in small steps (about
    /// ten a second), so a limit of 100/s admits 10 every 100 ms instead of 100 once a second.</summary>
    private static TokenBucketRateLimiterOptions BucketOptions(AcceptRateLimit limit)
    {
        var step = Math.Max(1, limit.PerSecond / 10);
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit.Burst,
            TokensPerPeriod = step,
            ReplenishmentPeriod = TimeSpan.FromTicks(TimeSpan.TicksPerSecond * step / limit.PerSecond),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }
}
