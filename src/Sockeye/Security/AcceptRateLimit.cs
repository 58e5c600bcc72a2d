using System.Globalization;

namespace Sockeye.Security;

/// <summary>How fast new connections may arrive: a token bucket that holds <see cref="Burst"/> tokens
/// and refills at <see cref="PerSecond"/> tokens a second; each accepted connection takes one.</summary>
/// <param name="PerSecond">Connections a second, sustained; at least 1.</param>
/// <param name="Burst">Connections that may arrive at once after a quiet spell; at least 1.</param>
public sealed record AcceptRateLimit(int PerSecond, int Burst)
{
    /// <summary>A limit of <paramref name="perSecond"/> connections a second with a burst of one
    /// second's worth.</summary>
    /// <param name="perSecond">Connections a second, sustained.</param>
    public AcceptRateLimit(int perSecond)
        : this(perSecond, perSecond)
    {
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{PerSecond}/s (burst {Burst})");
}
