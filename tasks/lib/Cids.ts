export { cidToString } from "../../client/src/Cids.js";
