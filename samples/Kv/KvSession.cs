using System.Buffers;

namespace Sockeye.Samples.Kv;

/// <summary>One client's state: its name, its database, its subscriptions and where its replies go.</summary>
internal sealed class KvSession(Connection connection)
{
    /// <summary>The client's connection.</summary>
    public Connection Connection { get; } = connection;

    /// <summary>CLIENT SETNAME's name, or null.</summary>
    public byte[]? Name { get; set; }

    /// <summary>The database SELECT chose (0 to <see cref="KvServer.DatabaseCount"/> − 1); 0 at first, as in Redis.</summary>
    public int Database { get; set; }

    /// <summary>Channels subscribed to (Latin-1 strings: one char per byte, so any bytes round-trip).</summary>
    public HashSet<string> Channels { get; } = new(StringComparer.Ordinal);

    /// <summary>Patterns subscribed to.</summary>
    public HashSet<string> Patterns { get; } = new(StringComparer.Ordinal);

    /// <summary>Subscriptions of both kinds: while above 0 the client is in subscriber mode.</summary>
    public int Subscriptions => Channels.Count + Patterns.Count;

    /// <summary>Whether replies go through the connection's send queue instead of its output pipe.</summary>
    /// <remarks>Once a client has used pub/sub, messages from publishers reach it through the send queue
    /// at any moment; its replies must take the same queue so that a SUBSCRIBE's confirmation comes
    /// before the channel's first message, as with Redis. It stays on for the connection's life.</remarks>
    public bool RepliesQueued { get; set; }

    /// <summary>Replies gathered for the send queue (only while <see cref="RepliesQueued"/>).</summary>
    public ArrayBufferWriter<byte> QueuedReplies { get; } = new(256);

    /// <summary>Set by QUIT or a slow-consumer cut: the connection ends after this read's replies.</summary>
    public bool Closing { get; set; }

    /// <summary>Sends the gathered replies through the send queue; false when the connection cannot take them.</summary>
    public bool SendQueuedReplies()
    {
        if (QueuedReplies.WrittenCount == 0)
        {
            return true;
        }

        var result = Connection.TrySend(QueuedReplies.WrittenSpan);
        QueuedReplies.ResetWrittenCount();
        return result == Fanout.SendResult.Queued;
    }
}
