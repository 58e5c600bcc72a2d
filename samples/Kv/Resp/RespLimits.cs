namespace Sockeye.Samples.Kv.Resp;

/// <summary>The bounds a request must stay within; past them the parser refuses it before allocating anything.</summary>
/// <param name="MaxBulk">Largest bulk string accepted, in bytes (Redis's <c>proto-max-bulk-len</c>, default 512 MB).</param>
/// <param name="MaxArray">Most elements in one request array (Redis allows up to 2^31 − 1; the default here is 1,048,576).</param>
internal readonly record struct RespLimits(long MaxBulk, int MaxArray)
{
    /// <summary>Redis's bulk bound and a one-million-element array bound.</summary>
    public static RespLimits Default { get; } = new(512L * 1024 * 1024, 1024 * 1024);
}
