%% mnesia_kv: one node of the faultline Mnesia example.
%%
%% A table kv (key: binary string, value: integer) replicated as
%% disc_copies on every node, served over HTTP by inets' httpd (see
%% mnesia_kv_http). Started by /app/start.sh as
%% `erl -name kv@$NODE_ADDR ... -s mnesia_kv start`.
%%
%% Cluster formation, on every node:
%%   1. start Mnesia with the schema in $DATA_DIR/mnesia: a disc schema if
%%      this node ran before (kill + restart), else a fresh RAM schema;
%%   2. ping every peer until all are connected (bounded: 60 s);
%%   3. the first node of PEERS (the lowest address) merges the others'
%%      schemas into its own (change_config(extra_db_nodes)), turns every
%%      node's schema into disc_copies and creates kv as disc_copies on all
%%      nodes; a node that ran before reconnects the same way, and so does
%%      a fresh node that nobody pulls in within 5 s (its data was lost: it
%%      then gets a new copy of kv);
%%   4. everyone waits until kv is loaded locally.
%% MAJORITY=1 creates kv with {majority, true} (writes need a majority of
%% the replicas); by default, as in Mnesia, any reachable replica will do.
%% A process per peer keeps pinging a peer that is not connected, so the
%% cluster reconnects by itself once a partition heals (Erlang does not).
-module(mnesia_kv).

-export([start/0, log/2, config/0, ready/0, status/0, phase/1]).

-define(TABLE, kv).
-define(STATE, mnesia_kv_state).
-define(PEER_WAIT_MS, 60000).

%% Called by `erl -s mnesia_kv start`: spawns the node's main process and
%% returns, so that init finishes booting.
start() ->
    spawn(fun main/0),
    ok.

main() ->
    register(mnesia_kv, self()),
    try
        boot()
    catch
        throw:{fatal, Fmt, Args} ->
            fatal(Fmt, Args);
        Class:Reason:Stack ->
            fatal("startup crashed: ~p:~p ~p", [Class, Reason, Stack])
    end,
    receive never -> ok end.

fatal(Fmt, Args) ->
    log("FATAL: " ++ Fmt, Args),
    log("exiting", []),
    timer:sleep(200),
    erlang:halt(1).

%% ---------------------------------------------------------------------
%% Configuration and state

config() ->
    persistent_term:get({?MODULE, config}).

read_config() ->
    Addr = os:getenv("NODE_ADDR", ""),
    Name = os:getenv("NODE_NAME", Addr),
    PeerAddrs = string:lexemes(os:getenv("PEERS", Addr), " ,\t\n"),
    Peers0 = [list_to_atom("kv@" ++ P) || P <- PeerAddrs],
    Peers = case lists:member(node(), Peers0) of
                true -> Peers0;
                false ->
                    log("WARNING: this node ~s is not in PEERS (~s): adding it",
                        [node(), os:getenv("PEERS", "")]),
                    Peers0 ++ [node()]
            end,
    Port = list_to_integer(os:getenv("HTTP_PORT", "8080")),
    DataDir = os:getenv("DATA_DIR", "/data"),
    Majority = lists:member(os:getenv("MAJORITY", ""), ["1", "true", "yes"]),
    #{name => list_to_binary(Name), addr => list_to_binary(Addr), peers => Peers,
      leader => hd(Peers), http_port => Port, data_dir => DataDir, majority => Majority,
      mnesia_dir => filename:join(DataDir, "mnesia"),
      started_at => erlang:monotonic_time(millisecond)}.

phase(Phase) ->
    ets:insert(?STATE, {phase, Phase}),
    log("phase: ~s", [Phase]).

get_state(Key, Default) ->
    try ets:lookup(?STATE, Key) of
        [{Key, V}] -> V;
        [] -> Default
    catch error:badarg -> Default
    end.

%% ---------------------------------------------------------------------
%% Logging: one line per event, with a UTC timestamp.

log(Fmt, Args) ->
    Ts = calendar:system_time_to_rfc3339(erlang:system_time(millisecond),
                                         [{unit, millisecond}, {offset, "Z"}]),
    %% ~p on one line: ~0p.
    Line = try io_lib:format(lists:flatten(string:replace(Fmt, "~p", "~0p", all)), Args)
           catch _:_ -> io_lib:format("~p ~p", [Fmt, Args])
           end,
    io:put_chars(user, [Ts, " ", Line, "\n"]).

%% OTP's own reports (Mnesia's errors among them) on one line each, with a
%% timestamp too.
setup_logger() ->
    _ = logger:update_formatter_config(
          default, #{single_line => true, legacy_header => false,
                     template => [time, " ", level, ": ", msg, "\n"]}),
    ok.

%% ---------------------------------------------------------------------
%% Boot

boot() ->
    setup_logger(),
    ?STATE = ets:new(?STATE, [named_table, public, set, {read_concurrency, true}]),
    ets:insert(?STATE, [{phase, "starting"}, {inconsistent, []}]),
    Cfg = read_config(),
    persistent_term:put({?MODULE, config}, Cfg),
    #{name := Name, peers := Peers, http_port := Port, mnesia_dir := Dir} = Cfg,
    log("starting ~s as ~s (OTP ~s, net_ticktime ~b s, majority ~p); peers: ~s; http port ~b; mnesia dir ~s",
        [Name, node(), otp_version(), net_kernel:get_net_ticktime(), maps:get(majority, Cfg),
         lists:join(" ", [atom_to_list(P) || P <- Peers]), Port, Dir]),
    node() =/= nonode@nohost orelse throw({fatal, "distribution is not started (no -name)", []}),
    Watcher = spawn_link(fun watcher/0),
    register(mnesia_kv_watcher, Watcher),
    ok = mnesia_kv_http:start(Port),
    log("http: listening on port ~b", [Port]),
    [spawn_link(fun() -> reconnector(P, false) end) || P <- Peers, P =/= node()],
    form_cluster(Cfg).

otp_version() ->
    File = filename:join([code:root_dir(), "releases", erlang:system_info(otp_release), "OTP_VERSION"]),
    case file:read_file(File) of
        {ok, V} -> string:trim(binary_to_list(V));
        _ -> erlang:system_info(otp_release)
    end.

form_cluster(#{peers := Peers, leader := Leader, mnesia_dir := Dir} = Cfg) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = application:set_env(mnesia, dir, Dir),
    HadSchema = filelib:is_regular(filename:join(Dir, "schema.DAT")),
    phase("starting mnesia"),
    case mnesia:start() of
        ok -> ok;
        {error, E} -> throw({fatal, "mnesia did not start: ~p", [E]})
    end,
    mnesia_kv_watcher ! subscribe,
    log("mnesia: started, ~s", [case HadSchema of
                                     true -> "disc schema found in " ++ Dir ++ ": this node ran before";
                                     false -> "no schema on disc yet: fresh node (RAM schema for now)"
                                 end]),
    Others = Peers -- [node()],
    phase("waiting for peers"),
    Missing = wait_for_peers(Others),
    Known = table_exists(),
    case Missing of
        [] ->
            log("all ~b peers connected", [length(Others)]);
        _ when not Known ->
            throw({fatal, "cannot form the cluster: peers ~p not connected after ~b s",
                   [Missing, ?PEER_WAIT_MS div 1000]});
        _ ->
            log("peers ~p not connected after ~b s; continuing (table kv is known here)",
                [Missing, ?PEER_WAIT_MS div 1000])
    end,
    IsLeader = node() =:= Leader,
    case IsLeader orelse HadSchema of
        true ->
            phase("joining mnesia cluster"),
            join(Others -- Missing, IsLeader andalso not Known);
        false ->
            %% A fresh node other than the first is pulled in by the first;
            %% if that does not happen (the cluster formed without us: our
            %% data dir was lost), join by ourselves.
            case pulled_in(Others, 50) of
                true -> ok;
                false ->
                    phase("joining mnesia cluster"),
                    join(Others -- Missing, false)
            end
    end,
    case IsLeader andalso not table_exists() of
        true -> create_table(Peers, maps:get(majority, Cfg));
        false -> ok
    end,
    phase("waiting for table kv"),
    wait_for_table(),
    ensure_local_copy(),
    phase("ready"),
    log("ready: running db nodes ~p", [mnesia:system_info(running_db_nodes)]).

%% Connected to every node of Nodes, or the deadline passed: the ones still
%% missing. The reconnectors do the pinging.
wait_for_peers(Nodes) ->
    wait_for_peers(Nodes, erlang:monotonic_time(millisecond) + ?PEER_WAIT_MS, 0).

wait_for_peers(Nodes, Deadline, Round) ->
    Missing = Nodes -- nodes(),
    Now = erlang:monotonic_time(millisecond),
    if
        Missing =:= [] -> [];
        Now >= Deadline -> Missing;
        true ->
            Round rem 10 =:= 0 andalso log("waiting for peers: ~p", [Missing]),
            timer:sleep(500),
            wait_for_peers(Nodes, Deadline, Round + 1)
    end.

%% Merge the schemas of Nodes with ours until they all run Mnesia with us.
%% Must is true when the cluster cannot be formed without them.
join([], _Must) -> ok;
join(Nodes, Must) ->
    join(Nodes, Must, erlang:monotonic_time(millisecond) + ?PEER_WAIT_MS, 0).

join(Nodes, Must, Deadline, Round) ->
    Result = mnesia:change_config(extra_db_nodes, Nodes),
    Missing = Nodes -- mnesia:system_info(running_db_nodes),
    Now = erlang:monotonic_time(millisecond),
    if
        Missing =:= [] ->
            log("mnesia: running with ~p", [mnesia:system_info(running_db_nodes)]);
        Now >= Deadline, Must ->
            throw({fatal, "mnesia on ~p did not join after ~b s (last: ~p)",
                   [Missing, ?PEER_WAIT_MS div 1000, Result]});
        Now >= Deadline ->
            log("mnesia on ~p not running with us after ~b s; continuing", [Missing, ?PEER_WAIT_MS div 1000]);
        true ->
            Round rem 10 =:= 0 andalso
                log("mnesia: waiting for ~p to join (change_config: ~p)", [Missing, Result]),
            timer:sleep(300),
            join(Nodes, Must, Deadline, Round + 1)
    end.

%% Some other node runs Mnesia with us, within Rounds * 100 ms.
pulled_in(_, 0) -> false;
pulled_in(Others, Rounds) ->
    case [N || N <- mnesia:system_info(running_db_nodes), lists:member(N, Others)] of
        [] -> timer:sleep(100), pulled_in(Others, Rounds - 1);
        _ -> true
    end.

table_exists() ->
    lists:member(?TABLE, mnesia:system_info(tables)).

%% The first node: every schema on disc, then the table on every node.
%% Majority (MAJORITY=1): Mnesia's {majority, true} table option, a write
%% aborts unless a majority of kv's replicas take part.
create_table(Peers, Majority) ->
    phase("creating table kv"),
    [disc_schema(N) || N <- Peers],
    case mnesia:create_table(?TABLE, [{disc_copies, Peers}, {type, set},
                                      {attributes, [key, value]},
                                      {majority, Majority}]) of
        {atomic, ok} -> log("mnesia: created table kv (disc_copies on ~p, majority ~p)",
                            [Peers, Majority]);
        {aborted, {already_exists, ?TABLE}} -> log("mnesia: table kv exists already", []);
        {aborted, R} -> throw({fatal, "create_table(kv) aborted: ~p", [R]})
    end.

disc_schema(Node) ->
    case lists:member(Node, mnesia:table_info(schema, disc_copies)) of
        true -> ok;
        false ->
            case mnesia:change_table_copy_type(schema, Node, disc_copies) of
                {atomic, ok} -> log("mnesia: schema of ~s now on disc", [Node]);
                {aborted, {already_exists, schema, Node, disc_copies}} -> ok;
                {aborted, R} -> throw({fatal, "schema of ~s to disc_copies aborted: ~p", [Node, R]})
            end
    end.

wait_for_table() ->
    wait_for_table(0).

%% Until the first node has created kv, it is not in our schema: poll for it
%% (wait_for_tables would only time out), then wait for it to load.
wait_for_table(Round) ->
    case table_exists() of
        false ->
            Round rem 25 =:= 0 andalso
                log("mnesia: waiting for table kv to be created (running db nodes ~p)",
                    [mnesia:system_info(running_db_nodes)]),
            timer:sleep(200),
            wait_for_table(Round + 1);
        true ->
            case loaded_here() orelse mnesia:wait_for_tables([?TABLE], 1000) of
                true -> log("mnesia: table kv loaded", []);
                ok -> log("mnesia: table kv loaded", []);
                {timeout, _} when Round rem 5 =/= 0 ->
                    wait_for_table(Round + 1);
                {timeout, _} ->
                    log("mnesia: waiting for table kv to load (running db nodes ~p)",
                        [mnesia:system_info(running_db_nodes)]),
                    wait_for_table(Round + 1);
                {error, R} ->
                    log("mnesia: waiting for table kv (~p)", [R]),
                    timer:sleep(1000),
                    wait_for_table(Round + 1)
            end
    end.

%% The local copy of kv is loaded: reads are served here.
loaded_here() ->
    try mnesia:table_info(?TABLE, where_to_read) =:= node()
    catch _:_ -> false
    end.

%% A node whose data dir was lost rejoins as a fresh node: the table exists
%% in the cluster but has no copy here. Give it one.
ensure_local_copy() ->
    Copies = mnesia:table_info(?TABLE, disc_copies) ++ mnesia:table_info(?TABLE, ram_copies),
    case lists:member(node(), Copies) of
        true -> ok;
        false ->
            disc_schema(node()),
            case mnesia:add_table_copy(?TABLE, node(), disc_copies) of
                {atomic, ok} -> log("mnesia: added a disc copy of kv here", []);
                {aborted, R} -> throw({fatal, "add_table_copy(kv) aborted: ~p", [R]})
            end,
            wait_for_table()
    end.

%% ---------------------------------------------------------------------
%% Watching: nodes up and down, Mnesia's system events.

watcher() ->
    ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
    watch().

watch() ->
    receive
        {nodeup, Node, _} ->
            log("node up: ~s (connected: ~p)", [Node, nodes()]);
        {nodedown, Node, Info} ->
            log("node down: ~s (~p; connected: ~p)",
                [Node, proplists:get_value(nodedown_reason, Info), nodes()]);
        subscribe ->
            case mnesia:subscribe(system) of
                {ok, _} -> log("mnesia: subscribed to system events", []);
                Other -> log("mnesia: subscribe(system) failed: ~p", [Other])
            end;
        {mnesia_system_event, Event} ->
            system_event(Event);
        Other ->
            log("watcher: unexpected message ~p", [Other])
    end,
    watch().

system_event({inconsistent_database, Context, Node} = E) ->
    At = list_to_binary(calendar:system_time_to_rfc3339(erlang:system_time(second), [{offset, "Z"}])),
    Seen = get_state(inconsistent, []),
    ets:insert(?STATE, {inconsistent, Seen ++ [#{node => Node, context => Context, at => At}]}),
    log("mnesia: INCONSISTENT DATABASE: ~p (Mnesia does not merge the copies: "
        "they stay divergent until an operator restarts one side, e.g. "
        "after mnesia:set_master_nodes/1)", [E]);
system_event({mnesia_checkpoint_activated, _}) -> ok;
system_event({mnesia_checkpoint_deactivated, _}) -> ok;
system_event(Event) ->
    log("mnesia: event ~p", [Event]).

%% Keeps pinging Peer while it is not connected (once a second), logging
%% only changes.
reconnector(Peer, WasUp) ->
    Up = lists:member(Peer, nodes()) orelse net_adm:ping(Peer) =:= pong,
    Up =:= WasUp orelse Up orelse log("reconnect: ~s unreachable, retrying every second", [Peer]),
    timer:sleep(1000),
    reconnector(Peer, Up).

%% ---------------------------------------------------------------------
%% Readiness and status, for the HTTP front.

%% ok when Mnesia runs here, kv is loaded locally and every peer runs
%% Mnesia with us; else {error, Reason}.
ready() ->
    #{peers := Peers} = config(),
    try
        mnesia:system_info(is_running) =:= yes orelse
            throw(io_lib:format("mnesia is ~p", [mnesia:system_info(is_running)])),
        lists:member(?TABLE, mnesia:system_info(local_tables)) orelse
            throw("table kv has no copy here (yet)"),
        loaded_here() orelse throw("table kv is not loaded here"),
        case Peers -- mnesia:system_info(running_db_nodes) of
            [] -> ok;
            Missing -> throw(io_lib:format("not running mnesia with ~s",
                                           [lists:join(" ", [atom_to_list(N) || N <- Missing])]))
        end
    catch
        throw:Reason -> {error, iolist_to_binary(Reason)};
        exit:{aborted, R} -> {error, iolist_to_binary(io_lib:format("~0p", [R]))};
        C:R -> {error, iolist_to_binary(io_lib:format("~0p:~0p", [C, R]))}
    end.

status() ->
    #{name := Name, addr := Addr, peers := Peers, started_at := T0} = config(),
    Ready = case ready() of
                ok -> #{ready => true};
                {error, Why} -> #{ready => false, reason => Why}
            end,
    Table = safe(fun() ->
                         #{disc_copies => mnesia:table_info(?TABLE, disc_copies),
                           ram_copies => mnesia:table_info(?TABLE, ram_copies),
                           active_replicas => mnesia:table_info(?TABLE, active_replicas),
                           where_to_read => mnesia:table_info(?TABLE, where_to_read),
                           majority => mnesia:table_info(?TABLE, majority),
                           size => mnesia:table_info(?TABLE, size)}
                 end),
    Ready#{node => node(), name => Name, addr => Addr, peers => Peers,
           phase => list_to_binary(get_state(phase, "?")),
           connected => nodes(),
           mnesia => safe(fun() -> mnesia:system_info(is_running) end),
           running_db_nodes => safe(fun() -> mnesia:system_info(running_db_nodes) end),
           db_nodes => safe(fun() -> mnesia:system_info(db_nodes) end),
           schema_disc_copies => safe(fun() -> mnesia:table_info(schema, disc_copies) end),
           table => Table,
           inconsistent_database => get_state(inconsistent, []),
           net_ticktime => net_kernel:get_net_ticktime(),
           otp_release => list_to_binary(otp_version()),
           uptime_ms => erlang:monotonic_time(millisecond) - T0}.

safe(F) ->
    try F()
    catch C:R -> #{error => iolist_to_binary(io_lib:format("~0p:~0p", [C, R]))}
    end.
