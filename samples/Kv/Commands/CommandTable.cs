using System.Text;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>Runs one command (its arity already checked) with the keyspace lock held.</summary>
internal delegate void CommandHandler(CommandContext context);

/// <summary>Where a command may run.</summary>
[Flags]
internal enum CommandFlags
{
    /// <summary>Only outside subscriber mode.</summary>
    None = 0,

    /// <summary>Allowed in subscriber mode (SUBSCRIBE and friends, PING, QUIT).</summary>
    Subscriber = 1,

    /// <summary>A pub/sub command: its replies must go through the send queue (<see cref="KvSession.RepliesQueued"/>).</summary>
    PubSub = 2,
}

/// <summary>One command: its name as errors print it, Redis's arity (n: exactly n arguments with the
/// name; −n: at least n) and what runs it.</summary>
internal sealed record CommandInfo(string Name, int Arity, CommandHandler Handler, CommandFlags Flags = CommandFlags.None)
{
    /// <summary>Whether <paramref name="count"/> arguments (the name included) fit the arity.</summary>
    public bool AcceptsCount(int count) => Arity >= 0 ? count == Arity : count >= -Arity;
}

/// <summary>Every command the server knows, found by name without allocating (names compared without case).</summary>
internal static class CommandTable
{
    private static readonly Dictionary<byte[], CommandInfo> Commands = Build();
    private static readonly Dictionary<byte[], CommandInfo>.AlternateLookup<ReadOnlySpan<byte>> Lookup = Commands.GetAlternateLookup<ReadOnlySpan<byte>>();

    /// <summary>The command named <paramref name="name"/> (any case), or null.</summary>
    public static CommandInfo? Find(ReadOnlySpan<byte> name)
    {
        if (name.Length > 32)
        {
            return null;
        }

        Span<byte> upper = stackalloc byte[name.Length];
        Ascii.ToUpper(name, upper, out _);
        return Lookup.TryGetValue(upper, out var info) ? info : null;
    }

    /// <summary>How many commands there are (COMMAND COUNT).</summary>
    public static int Count => Commands.Count;

    private static Dictionary<byte[], CommandInfo> Build()
    {
        var table = new Dictionary<byte[], CommandInfo>(ByteKeyComparer.Instance);
        void Add(string name, int arity, CommandHandler handler, CommandFlags flags = CommandFlags.None) =>
            table.Add(Encoding.ASCII.GetBytes(name.ToUpperInvariant()), new CommandInfo(name, arity, handler, flags));

        // Connection and server.
        Add("ping", -1, ServerCommands.Ping, CommandFlags.Subscriber);
        Add("echo", 2, ServerCommands.Echo);
        Add("quit", -1, ServerCommands.Quit, CommandFlags.Subscriber);
        Add("select", 2, ServerCommands.Select);
        Add("dbsize", 1, ServerCommands.DbSize);
        Add("flushdb", -1, c => ServerCommands.Flush(c, all: false));
        Add("flushall", -1, c => ServerCommands.Flush(c, all: true));
        Add("info", -1, ServerCommands.Info);
        Add("config", -2, ServerCommands.Config);
        Add("client", -2, ServerCommands.Client);
        Add("command", -1, ServerCommands.Command);

        // Strings (SETEX, PSETEX, SETNX and HMSET below are what StackExchange.Redis sends for some calls).
        Add("get", 2, StringCommands.Get);
        Add("set", -3, StringCommands.Set);
        Add("setex", 4, c => StringCommands.SetEx(c, 1000));
        Add("psetex", 4, c => StringCommands.SetEx(c, 1));
        Add("setnx", 3, StringCommands.SetNx);
        Add("getdel", 2, StringCommands.GetDel);
        Add("mget", -2, StringCommands.MGet);
        Add("mset", -3, StringCommands.MSet);
        Add("incr", 2, c => StringCommands.IncrBy(c, 1));
        Add("decr", 2, c => StringCommands.IncrBy(c, -1));
        Add("incrby", 3, c => StringCommands.IncrByArgument(c, negate: false));
        Add("decrby", 3, c => StringCommands.IncrByArgument(c, negate: true));
        Add("append", 3, StringCommands.Append);
        Add("strlen", 2, StringCommands.StrLen);

        // Keys.
        Add("del", -2, KeyCommands.Del);
        Add("exists", -2, KeyCommands.Exists);
        Add("expire", -3, c => KeyCommands.Expire(c, 1000));
        Add("pexpire", -3, c => KeyCommands.Expire(c, 1));
        Add("ttl", 2, c => KeyCommands.Ttl(c, milliseconds: false));
        Add("pttl", 2, c => KeyCommands.Ttl(c, milliseconds: true));
        Add("persist", 2, KeyCommands.Persist);
        Add("type", 2, KeyCommands.Type);
        Add("scan", -2, KeyCommands.Scan);
        Add("keys", 2, KeyCommands.Keys);

        // Lists.
        Add("lpush", -3, c => ListCommands.Push(c, front: true));
        Add("rpush", -3, c => ListCommands.Push(c, front: false));
        Add("lpop", -2, c => ListCommands.Pop(c, front: true));
        Add("rpop", -2, c => ListCommands.Pop(c, front: false));
        Add("lrange", 4, ListCommands.Range);
        Add("llen", 2, ListCommands.Length);

        // Hashes.
        Add("hset", -4, HashCommands.Set);
        Add("hmset", -4, HashCommands.MSet);
        Add("hget", 3, HashCommands.Get);
        Add("hdel", -3, HashCommands.Delete);
        Add("hgetall", 2, HashCommands.GetAll);
        Add("hlen", 2, HashCommands.Length);

        // Sets.
        Add("sadd", -3, SetCommands.Add);
        Add("srem", -3, SetCommands.Remove);
        Add("spop", -2, SetCommands.Pop);
        Add("smembers", 2, SetCommands.Members);
        Add("scard", 2, SetCommands.Cardinality);

        // Sorted sets.
        Add("zadd", -4, SortedSetCommands.Add);
        Add("zpopmin", -2, SortedSetCommands.PopMin);
        Add("zrange", -4, SortedSetCommands.Range);
        Add("zcard", 2, SortedSetCommands.Cardinality);
        Add("zscore", 3, SortedSetCommands.Score);

        // Pub/sub.
        Add("publish", 3, PubSubCommands.Publish);
        Add("subscribe", -2, PubSubCommands.Subscribe, CommandFlags.Subscriber | CommandFlags.PubSub);
        Add("unsubscribe", -1, PubSubCommands.Unsubscribe, CommandFlags.Subscriber | CommandFlags.PubSub);
        Add("psubscribe", -2, PubSubCommands.PSubscribe, CommandFlags.Subscriber | CommandFlags.PubSub);
        Add("punsubscribe", -1, PubSubCommands.PUnsubscribe, CommandFlags.Subscriber | CommandFlags.PubSub);
        return table;
    }
}
