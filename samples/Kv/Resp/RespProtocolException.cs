namespace Sockeye.Samples.Kv.Resp;

/// <summary>A request that breaks RESP or one of the server's bounds: the client is sent
/// <see cref="Reply"/> (Redis's own text for the same fault) and the connection is closed.</summary>
internal sealed class RespProtocolException : Exception
{
    /// <summary>A fault whose reply is <paramref name="reply"/>; <paramref name="detail"/> names the bad value and the limit.</summary>
    public RespProtocolException(string reply, string detail)
        : base($"{reply} ({detail})")
    {
        Reply = reply;
    }

    /// <summary>The error reply, without the leading '-' (for example <c>ERR Protocol error: invalid bulk length</c>).</summary>
    public string Reply { get; }
}
