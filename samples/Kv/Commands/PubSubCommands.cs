using System.Text;
using Sockeye.Samples.Kv.PubSub;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>PUBLISH SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE, with Redis's RESP2 replies.</summary>
/// <remarks>A (un)subscribe's confirmation is queued before the client joins the group, so it reaches the
/// client before any message published after it; the handler routes every reply of such a client
/// through its send queue (<see cref="KvSession.RepliesQueued"/>).</remarks>
internal static class PubSubCommands
{
    public static void Publish(CommandContext c) =>
        RespWriter.Integer(c.Output, c.Server.Hub.Publish(c.Args[1], c.Args[2]));

    public static void Subscribe(CommandContext c)
    {
        for (var i = 1; i < c.Args.Count; i++)
        {
            var channel = PubSubHub.NameOf(c.Args[i]);
            var added = c.Session.Channels.Add(channel);
            Confirm(c, "subscribe"u8, c.Args[i]);
            if (added)
            {
                c.Server.Hub.Subscribe(channel, c.Session.Connection);
            }
        }
    }

    public static void PSubscribe(CommandContext c)
    {
        for (var i = 1; i < c.Args.Count; i++)
        {
            var pattern = PubSubHub.NameOf(c.Args[i]);
            var added = c.Session.Patterns.Add(pattern);
            Confirm(c, "psubscribe"u8, c.Args[i]);
            if (added)
            {
                c.Server.Hub.PSubscribe(pattern, c.Session.Connection);
            }
        }
    }

    public static void Unsubscribe(CommandContext c) => Leave(c, patterns: false);

    public static void PUnsubscribe(CommandContext c) => Leave(c, patterns: true);

    /// <summary>Leaves the named channels (patterns), or all of them when none is named; with none to
    /// leave, Redis answers once with a nil name.</summary>
    private static void Leave(CommandContext c, bool patterns)
    {
        var kind = patterns ? "punsubscribe"u8 : "unsubscribe"u8;
        var joined = patterns ? c.Session.Patterns : c.Session.Channels;
        var names = c.Args.Count > 1
            ? Enumerable.Range(1, c.Args.Count - 1).Select(i => PubSubHub.NameOf(c.Args[i])).ToList()
            : [.. joined];
        if (names.Count == 0)
        {
            RespWriter.ArrayHeader(c.Output, 3);
            RespWriter.Bulk(c.Output, kind);
            RespWriter.Null(c.Output);
            RespWriter.Integer(c.Output, c.Session.Subscriptions);
            return;
        }

        foreach (var name in names)
        {
            if (joined.Remove(name))
            {
                if (patterns)
                {
                    c.Server.Hub.PUnsubscribe(name, c.Session.Connection);
                }
                else
                {
                    c.Server.Hub.Unsubscribe(name, c.Session.Connection);
                }
            }

            RespWriter.ArrayHeader(c.Output, 3);
            RespWriter.Bulk(c.Output, kind);
            RespWriter.Bulk(c.Output, Encoding.Latin1.GetBytes(name));
            RespWriter.Integer(c.Output, c.Session.Subscriptions);
        }
    }

    /// <summary>Writes the confirmation and hands it to the send queue now, before the client joins.</summary>
    private static void Confirm(CommandContext c, ReadOnlySpan<byte> kind, ReadOnlySpan<byte> name)
    {
        RespWriter.ArrayHeader(c.Output, 3);
        RespWriter.Bulk(c.Output, kind);
        RespWriter.Bulk(c.Output, name);
        RespWriter.Integer(c.Output, c.Session.Subscriptions);
        if (!c.Session.SendQueuedReplies())
        {
            c.Session.Closing = true;
        }
    }
}
