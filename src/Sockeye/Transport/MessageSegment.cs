using System.Collections.Concurrent;
using Sockeye.Fanout;

namespace Sockeye.Transport;

/// <summary>
/// One queued <see cref="OutgoingMessage"/> in a connection's send queue: a segment of the same kind
/// as the handler's own output blocks, so a drain sends a chain of them with the same gathered
/// <c>sendmsg</c> (or .NET send) as a flush. Pooled, so queueing a broadcast allocates nothing per
/// recipient; releasing it drops the queue's reference on the message.
/// </summary>
internal sealed class MessageSegment : BufferSegment
{
    private const int Kept = 65_536;
    private static readonly ConcurrentBag<MessageSegment> s_pool = [];

    private OutgoingMessage? _message;

    private MessageSegment()
        : base([])
    {
    }

    public override bool IsPinned => true; // the message pools' arrays are on the pinned heap

    /// <summary>The queued message's length.</summary>
    public int Length => End;

    /// <summary>A segment holding a new reference on <paramref name="message"/>.</summary>
    public static MessageSegment For(OutgoingMessage message)
    {
        message.AddReference();
        var segment = s_pool.TryTake(out var pooled) ? pooled : new MessageSegment();
        segment._message = message;
        segment.Reset(message.Array, message.Length);
        return segment;
    }

    protected override void Return()
    {
        var message = _message!;
        _message = null;
        Reset([], 0);
        message.Release();
        if (s_pool.Count < Kept)
        {
            s_pool.Add(this);
        }
    }
}
