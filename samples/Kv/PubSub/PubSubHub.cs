using System.Buffers;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Samples.Kv.PubSub;

/// <summary>
/// Channels and patterns, each a <see cref="ConnectionGroup"/> of its subscribers. A PUBLISH encodes
/// the <c>message</c> frame once and broadcasts that one <see cref="OutgoingMessage"/> to the
/// channel's group, then one <c>pmessage</c> frame per matching pattern to that pattern's group: no
/// copy per subscriber. Each subscriber's send queue applies the server's slow-consumer policy
/// (<see cref="SendQueueOptions"/>, Redis's pub/sub defaults: cut at 32 MiB queued, or 8 MiB for 60 s).
/// </summary>
/// <remarks>Used with the keyspace lock held (every command runs under it), so the maps need no lock of
/// their own. Names are Latin-1 strings: one char per byte, so binary channel names round-trip.</remarks>
internal sealed class PubSubHub
{
    private readonly Dictionary<string, ConnectionGroup> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (byte[] Bytes, ConnectionGroup Group)> _patterns = new(StringComparer.Ordinal);
    private readonly ArrayBufferWriter<byte> _frame = new(256);

    /// <summary>Channels with at least one subscriber.</summary>
    public int ChannelCount => _channels.Count;

    /// <summary>Patterns with at least one subscriber.</summary>
    public int PatternCount => _patterns.Count;

    /// <summary>The byte-exact string form of a channel or pattern name.</summary>
    public static string NameOf(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>Adds <paramref name="connection"/> to <paramref name="channel"/>'s subscribers.</summary>
    public void Subscribe(string channel, Connection connection)
    {
        if (!_channels.TryGetValue(channel, out var group))
        {
            group = new ConnectionGroup(channel);
            _channels.Add(channel, group);
        }

        group.Add(connection);
    }

    /// <summary>Removes <paramref name="connection"/> from <paramref name="channel"/>; forgets an emptied channel.</summary>
    public void Unsubscribe(string channel, Connection connection)
    {
        if (_channels.TryGetValue(channel, out var group))
        {
            group.Remove(connection);
            if (group.Count == 0)
            {
                _channels.Remove(channel);
            }
        }
    }

    /// <summary>Adds <paramref name="connection"/> to <paramref name="pattern"/>'s subscribers.</summary>
    public void PSubscribe(string pattern, Connection connection)
    {
        if (!_patterns.TryGetValue(pattern, out var entry))
        {
            entry = (Encoding.Latin1.GetBytes(pattern), new ConnectionGroup(pattern));
            _patterns.Add(pattern, entry);
        }

        entry.Group.Add(connection);
    }

    /// <summary>Removes <paramref name="connection"/> from <paramref name="pattern"/>; forgets an emptied pattern.</summary>
    public void PUnsubscribe(string pattern, Connection connection)
    {
        if (_patterns.TryGetValue(pattern, out var entry))
        {
            entry.Group.Remove(connection);
            if (entry.Group.Count == 0)
            {
                _patterns.Remove(pattern);
            }
        }
    }

    /// <summary>Sends <paramref name="payload"/> to the channel's subscribers and to every matching
    /// pattern's; returns how many subscriptions it was queued for (PUBLISH's reply).</summary>
    public int Publish(ReadOnlySpan<byte> channel, ReadOnlySpan<byte> payload)
    {
        var receivers = 0;
        if (_channels.Count > 0 && _channels.GetAlternateLookup<ReadOnlySpan<char>>() is var lookup)
        {
            Span<char> name = channel.Length <= 256 ? stackalloc char[channel.Length] : new char[channel.Length];
            Encoding.Latin1.GetChars(channel, name);
            if (lookup.TryGetValue(name, out var group) && group.Count > 0)
            {
                _frame.ResetWrittenCount();
                RespWriter.ArrayHeader(_frame, 3);
                RespWriter.Bulk(_frame, "message"u8);
                RespWriter.Bulk(_frame, channel);
                RespWriter.Bulk(_frame, payload);
                receivers += Broadcast(group);
            }
        }

        foreach (var (bytes, group) in _patterns.Values)
        {
            if (group.Count > 0 && Glob.IsMatch(bytes, channel))
            {
                _frame.ResetWrittenCount();
                RespWriter.ArrayHeader(_frame, 4);
                RespWriter.Bulk(_frame, "pmessage"u8);
                RespWriter.Bulk(_frame, bytes);
                RespWriter.Bulk(_frame, channel);
                RespWriter.Bulk(_frame, payload);
                receivers += Broadcast(group);
            }
        }

        return receivers;
    }

    private int Broadcast(ConnectionGroup group)
    {
        using var message = OutgoingMessage.Create(_frame.WrittenSpan);
        return group.Broadcast(message).Queued;
    }
}
